"""Requester pages, lifecycle, exports (web and CLI), and the demo."""
import csv
import io
import json

from annotation.models import Job, JobStatus
from annotation.tasks import next_task_for
from app.identity.models import User
from app.operations.tasks import submit_answer
from rewards.funding import credit_requester

from conftest import TEXT_CONFIG, choices_result


def test_create_job_in_the_browser_flow(db, make_user, login):
    owner = make_user("requester")
    client = login(owner)
    response = client.post("/jobs/new", data={"title": "Reviews", "instructions": "Be **kind** <script>x</script>",
                                              "label_config": TEXT_CONFIG, "reward": 7, "overlap": 3,
                                              "seconds_per_task": 20})
    assert response.status_code == 302
    job = db.session.scalar(db.select(Job))
    page = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert "<strong>kind</strong>" in page and "<script>x" not in page
    refused = client.post(f"/jobs/{job.id}/publish")
    assert refused.status_code == 409 and "Upload items before publishing" in refused.get_data(as_text=True)
    client.post(f"/jobs/{job.id}/items", data={"files": [(io.BytesIO(b"text\na\nb\n"), "rows.csv")]},
                content_type="multipart/form-data")
    unfunded = client.post(f"/jobs/{job.id}/publish")
    assert unfunded.status_code == 402 and "needs 42 FLT" in unfunded.get_data(as_text=True)
    credit_requester(owner, 42, key="reviews")  # (7 + fee 0: 5% of 7 rounds down) × 3 answers × 2 items
    db.session.commit()
    assert client.post(f"/jobs/{job.id}/publish").status_code == 302
    db.session.refresh(job)
    assert job.status is JobStatus.PUBLISHED
    for action, status in [("pause", "paused"), ("resume", "published"), ("close", "closed")]:
        assert client.post(f"/jobs/{job.id}/{action}").status_code == 302
        db.session.refresh(job)
        assert job.status.value == status
    assert client.post(f"/jobs/{job.id}/resume").status_code == 409


def test_invalid_config_is_shown_in_the_form(db, make_user, login):
    client = login(make_user("requester"))
    response = client.post("/jobs/new", data={"title": "x", "label_config": "<View><Text name='t' value='$t'",
                                              "reward": 1, "overlap": 1, "seconds_per_task": 5})
    assert response.status_code == 400
    assert "Invalid labeling config" in response.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count()).select_from(Job)) == 0


def test_the_form_takes_acceptance_thresholds_and_shows_what_is_wrong_with_them(db, make_user, login):
    client = login(make_user("requester"))
    boxes = ('<View><Image name="img" value="$image"/><RectangleLabels name="cars" toName="img">'
             '<Label value="car"/></RectangleLabels></View>')
    form = {"title": "Cars", "label_config": boxes, "reward": 10, "overlap": 3, "seconds_per_task": 20}
    for bad, message in [("{nope", "not valid JSON"), ('{"cars": {"max_wer": 0.3}}', "takes min_f1, iou"),
                         ('{"cars": {"iou": 3}}', "from 0.01 to 1")]:
        response = client.post("/jobs/new", data={**form, "acceptance": bad})
        assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count()).select_from(Job)) == 0
    assert client.post("/jobs/new", data={**form, "acceptance": '{"cars": {"iou": 0.7}}'}).status_code == 302
    assert db.session.scalar(db.select(Job)).acceptance == {"cars": {"iou": 0.7}}


def test_annotator_feed_shows_reward_and_hourly_rate(make_user, make_job, login):
    make_job(title="Feed me", reward=6, seconds_per_task=12)
    page = login(make_user()).get("/work").get_data(as_text=True)
    assert "Feed me" in page and "≈ 1800 FLT/hour" in page


def _finished_job(db, make_user, make_job):
    job = make_job(n_items=2, overlap=3, aggregation="majority_vote")
    workers = [make_user() for _ in range(3)]
    plan = {0: ["positive", "positive", "negative"], 1: ["neutral", "neutral", "neutral"]}
    for round_ in range(2):
        for w, worker in enumerate(workers):
            assignment = next_task_for(worker, job)
            index = int(assignment.item.data["text"].split()[-1])
            submit_answer(worker, assignment.id, choices_result(plan[index][w]))
            db.session.commit()
    return job, workers


def test_exports_carry_consensus_confidence_and_raw_answers(db, make_user, make_job, login):
    job, workers = _finished_job(db, make_user, make_job)
    client = login(job.owner)
    tasks = client.get(f"/jobs/{job.id}/export.json").json
    by_text = {t["data"]["text"]: t for t in tasks}
    first = by_text["sentence 0"]
    assert first["predictions"][0]["result"][0]["value"]["choices"] == ["positive"]
    assert abs(first["predictions"][0]["score"] - 2 / 3) < 1e-9
    assert sorted(a["result"][0]["value"]["choices"][0] for a in first["annotations"]) == \
        ["negative", "positive", "positive"]
    assert {a["completed_by"] for a in first["annotations"]} == {w.id for w in workers}
    rows = list(csv.DictReader(io.StringIO(client.get(f"/jobs/{job.id}/export.csv").get_data(as_text=True))))
    assert [(r["text"], r["sentiment"], r["confidence"], r["n_answers"]) for r in rows] == [
        ("sentence 0", "positive", "0.6667", "3"), ("sentence 1", "neutral", "1.0000", "3")]
    assert len(json.loads(rows[0]["answers"])) == 3
    assert client.get(f"/jobs/{job.id}/export.xml").status_code == 400
    page = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert "2/2</strong> items complete (100%)" in page and "<strong>6</strong> answers so far" in page


def test_cli_export(db, make_user, make_job, runner, tmp_path):
    job, _ = _finished_job(db, make_user, make_job)
    result = runner.invoke(args=["annotation", "export", str(job.id), "--format", "csv"])
    assert result.exit_code == 0 and "sentence 0,positive,0.6667,3" in result.output
    out = tmp_path / "out.json"
    result = runner.invoke(args=["annotation", "export", str(job.id), "--format", "json", "--out", str(out)])
    assert result.exit_code == 0 and len(json.loads(out.read_text())) == 2
    missing = runner.invoke(args=["annotation", "export", "999"])
    assert missing.exit_code == 1 and "Job 999 not found" in missing.output
    bad = runner.invoke(args=["annotation", "export", str(job.id), "--format", "xml"])
    assert bad.exit_code == 2 and "xml" in bad.output


def test_cli_users_and_credit(db, runner):
    result = runner.invoke(args=["users", "create", "root", "--role", "admin", "--password", "a long password"])
    assert result.exit_code == 0 and db.session.scalar(db.select(User).where(User.username == "root")).is_admin
    assert runner.invoke(args=["users", "create", "x", "--role", "admin", "--password", "a long password"]).exit_code == 1
    for _ in range(2):
        result = runner.invoke(args=["rewards", "credit", "root", "50", "--key", "k1"])
        assert result.exit_code == 0 and "balance 50" in result.output


def test_demo_loads_once(db, runner, app):
    app.config["ENV"] = "development"
    first = runner.invoke(args=["demo", "load"])
    assert first.exit_code == 0 and "Demo loaded" in first.output and "fairlabel-demo" in first.output
    second = runner.invoke(args=["demo", "load"])
    assert second.exit_code == 0 and "already loaded" in second.output
    jobs = db.session.scalars(db.select(Job).order_by(Job.id)).all()
    # The three choice jobs first, then one job per task family (tests/app/test_demo.py).
    assert [(j.status, j.n_items) for j in jobs[:3]] == [(JobStatus.PUBLISHED, 12), (JobStatus.PUBLISHED, 9),
                                                         (JobStatus.PUBLISHED, 6)]
    assert len(jobs) > 3 and {j.status for j in jobs} == {JobStatus.PUBLISHED}
    assert db.session.scalar(db.select(db.func.count()).select_from(User)) == 4
