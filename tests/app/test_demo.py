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


def test_demo_has_a_published_job_per_annotation_family(app, runner, db):
    """Issue #10: boxes, NER, audio segments, transcription, a rating and a pairwise comparison,
    each with items the project made, every file with its name and size or duration."""
    from annotation.jobs import job_spec
    from annotation.models import Item, Job, JobStatus

    app.config["ENV"] = "development"
    assert runner.invoke(args=["demo", "load"]).exit_code == 0
    jobs = db.session.scalars(db.select(Job)).all()
    kinds = {c.kind for job in jobs for c in job_spec(job).scored_controls}
    assert {"choices", "rectangles", "spans", "segments", "textarea", "rating", "pairwise"} <= kinds
    assert all(job.status is JobStatus.PUBLISHED and job.n_items > 0 for job in jobs)
    clip = db.session.scalars(db.select(Item).join(Job).where(Job.title == "When does the tone sound?")).first()
    assert clip.data["_media"]["audio"] == {"name": "clip-01.wav", "duration": 4.0}
    drawing = db.session.scalars(db.select(Item).join(Job).where(Job.title == "Box the shapes")).first()
    assert drawing.data["_media"]["image"] == {"name": "drawing-01.png", "width": 256, "height": 256}
