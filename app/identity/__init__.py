"""Identity: accounts, passwords, server-side sessions, wallet sign-in and wallet links.

A leaf under the domains: annotation and rewards refer to people through `app.identity.models`,
and identity imports nothing of ours but the database leaf (`app.extensions`). No module here
touches `flask.request` or `flask.session`; the web layer passes what they need.
"""
