"""`flask demo load`: the demo's accounts and wallets, in development only."""
from app.identity.models import User


def test_demo_load_refuses_outside_development(runner, db):
    """Its passwords are published and its wallets' keys derivable from the usernames."""
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code != 0 and "development only" in result.output
    assert db.session.scalar(db.select(db.func.count(User.id))) == 0


def test_demo_load_in_development_makes_verified_wallets_whose_wallet_page_renders(app, runner, db):
    """On main /wallet answered 500 for every demo annotator (no wallet_verified_at)."""
    app.config["ENV"] = "development"
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    ann = db.session.scalar(db.select(User).where(User.username == "ann"))
    assert ann.wallet_address and ann.wallet_verified_at is not None
    client = app.test_client()
    assert client.post("/login", data={"username": "ann", "password": "fairlabel-demo"}).status_code == 302
    page = client.get("/wallet")
    assert page.status_code == 200 and ann.wallet_address in page.get_data(as_text=True)
