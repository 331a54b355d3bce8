"""`flask tokens`: personal API tokens from the command line (for an agent's operator, or a script).

`tokens create USERNAME [--scope S]... [--expires-days N]` prints the new secret alone on the last
line of standard output — the contract outside scripts rely on — and what it grants on stderr.
"""
from __future__ import annotations

import click

from app.extensions import db, utcnow
from app.identity.errors import IdentityError
from app.identity.models import User
from app.identity.tokens import SCOPES, SCOPES_BY_ROLE, create_api_token, list_api_tokens, revoke_api_token

tokens_group = click.Group("tokens", help="Create, list and revoke personal API tokens.")


def _user(username: str) -> User:
    user = db.session.scalar(db.select(User).where(User.username == username))
    if user is None:
        raise click.ClickException(f"No user named {username!r}.")
    return user


@tokens_group.command("create")
@click.argument("username")
@click.option("--scope", "scopes", multiple=True, metavar="SCOPE",
              help=f"Repeat for each scope: {', '.join(SCOPES)}. Default: every scope the user's role may hold.")
@click.option("--expires-days", type=int, default=None, help="Days until it expires (default: never).")
@click.option("--name", default="cli", show_default=True, help="What the token is for, as lists show it.")
def create_command(username: str, scopes: tuple[str, ...], expires_days: int | None, name: str) -> None:
    """Create a token for USERNAME; print it (only now, never again) on the last line."""
    user = _user(username)
    wanted = list(scopes) or sorted(SCOPES_BY_ROLE.get(user.role, ()))
    try:
        token, secret = create_api_token(user, name=name, scopes=wanted, expires_days=expires_days, now=utcnow())
    except IdentityError as exc:
        raise click.ClickException(exc.message) from None
    db.session.commit()
    expiry = token.expires_at.strftime("%Y-%m-%d %H:%M UTC") if token.expires_at else "never"
    click.echo(f"Token {token.id} ({token.prefix}…) for {user.username}: scopes {token.scopes}; expires {expiry}.",
               err=True)
    click.echo(secret)


@tokens_group.command("list")
@click.argument("username")
def list_command(username: str) -> None:
    """USERNAME's tokens: id, prefix, name, scopes, created, last used, expiry, revoked."""
    for t in list_api_tokens(_user(username)):
        state = ("revoked " + t.revoked_at.isoformat(timespec="minutes")) if t.revoked_at else "live"
        click.echo(f"{t.id}\t{t.prefix}…\t{t.name}\t{t.scopes}\tcreated {t.created_at.isoformat(timespec='minutes')}"
                   f"\tlast used {t.last_used_at.isoformat(timespec='minutes') if t.last_used_at else 'never'}"
                   f"\texpires {t.expires_at.isoformat(timespec='minutes') if t.expires_at else 'never'}\t{state}")


@tokens_group.command("revoke")
@click.argument("username")
@click.argument("token_id", type=click.IntRange(min=1))
def revoke_command(username: str, token_id: int) -> None:
    """Revoke USERNAME's token TOKEN_ID at once."""
    try:
        revoke_api_token(_user(username), token_id, now=utcnow())
    except IdentityError as exc:
        raise click.ClickException(exc.message) from None
    db.session.commit()
    click.echo(f"Revoked token {token_id}.")
