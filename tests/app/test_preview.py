"""The job form's preview (POST /api/preview, /api/preview/answer): what an annotator would get.

The preview must say what the real paths say: the spec the labeling page embeds, the task data
the next-task API sends, the refusals of creating a job and of uploading a row, and — word for
word — the error an annotator's answer gets. Every bad input is a 4xx; only requesters may use
it; nothing is stored.
"""
from __future__ import annotations

import html
import json

import pytest

from annotation.label_config import MAX_CONFIG_CHARS, parse_label_config
from annotation.models import Answer, Item, Job
from app.demo import IMAGE_CONFIG, SEGMENT_CONFIG, bursts_wav

from conftest import TEXT_CONFIG, choices_result

COMMENT_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text" choice="single">
    <Choice value="positive"/><Choice value="negative"/>
  </Choices>
  <TextArea name="comment" toName="text"/>
</View>"""
SPAN_CONFIG = """<View>
  <HyperText name="page" value="$html"/>
  <Labels name="entities" toName="page"><Label value="PER"/></Labels>
</View>"""


def spec_json(config: str) -> dict:
    """The spec as label.html embeds it (tojson): tuples become lists."""
    return json.loads(json.dumps(parse_label_config(config).to_json()))


def error_of(response, status: int = 400) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()["error"]


@pytest.fixture
def requester(make_user, login):
    return login(make_user("requester"))


# --- the good path -----------------------------------------------------------------------------

def test_preview_gives_the_labeling_pages_spec_and_the_task_an_annotator_is_sent(requester):
    row = {"text": "Quick and friendly.", "source": "survey 3", "_gold": {"sentiment": "positive"}}
    response = requester.post("/api/preview", json={"label_config": COMMENT_CONFIG, "data": row})
    assert response.status_code == 200, response.data
    body = response.get_json()
    assert body["spec"] == spec_json(COMMENT_CONFIG)  # what label.html embeds
    # Only the fields the config reads, as task_json sends them: never a requester's own column or gold.
    assert body["task"]["data"] == {"text": "Quick and friendly."}
    assert row == {"text": "Quick and friendly.", "source": "survey 3", "_gold": {"sentiment": "positive"}}


def test_a_label_studio_task_row_is_unwrapped_as_an_upload_unwraps_it(requester):
    response = requester.post("/api/preview", json={"label_config": TEXT_CONFIG,
                                                    "data": {"data": {"text": "wrapped"}, "id": 7}})
    assert response.status_code == 200 and response.get_json()["task"]["data"] == {"text": "wrapped"}


def test_hypertext_comes_back_sanitized_as_an_upload_stores_it(requester):
    html = '<p onclick="steal()">Ada <script>alert(1)</script>Lovelace</p>'
    response = requester.post("/api/preview", json={"label_config": SPAN_CONFIG, "data": {"html": html}})
    shown = response.get_json()["task"]["data"]["html"]
    assert "script" not in shown and "onclick" not in shown and "Ada" in shown


def test_a_checked_answer_comes_back_normalized(requester):
    result = [*choices_result("negative"),
              {"from_name": "comment", "to_name": "text", "type": "textarea", "value": {"text": ["Too slow."]}}]
    response = requester.post("/api/preview/answer", json={"label_config": COMMENT_CONFIG,
                                                           "data": {"text": "Slow."}, "result": result})
    assert response.status_code == 200, response.data
    answer = response.get_json()["answer"]
    assert answer["choices"] == {"sentiment": ["negative"], "comment": "Too slow."}
    assert [r["from_name"] for r in answer["result"]] == ["sentiment", "comment"]


def test_span_offsets_are_checked_against_the_row_the_requester_typed(requester):
    def answer(end: int):
        result = [{"from_name": "entities", "to_name": "page", "type": "labels",
                   "value": {"start": 0, "end": end, "labels": ["PER"]}}]
        return requester.post("/api/preview/answer", json={"label_config": SPAN_CONFIG,
                                                           "data": {"html": "<b>Ada</b> wrote"}, "result": result})

    assert answer(3).status_code == 200
    assert "is not inside the text" in error_of(answer(99))["message"]


def test_nothing_is_stored(requester, db):
    counts = [db.session.scalar(db.select(db.func.count()).select_from(t)) for t in (Job, Item, Answer)]
    requester.post("/api/preview", json={"label_config": TEXT_CONFIG, "data": {"text": "x"}})
    requester.post("/api/preview/answer", json={"label_config": TEXT_CONFIG, "data": {"text": "x"},
                                                "result": choices_result("positive")})
    assert [db.session.scalar(db.select(db.func.count()).select_from(t)) for t in (Job, Item, Answer)] == counts


# --- the same words as the real answer path ------------------------------------------------------

BAD_RESULTS = [
    [],  # nothing answered
    choices_result("maybe"),  # not a choice of the config
    choices_result(["positive", "negative"]),  # two for a single choice
    [{"from_name": "nope", "to_name": "text", "type": "choices", "value": {"choices": ["positive"]}}],
    [{"from_name": "sentiment", "to_name": "text", "type": "labels", "value": {"choices": ["positive"]}}],
    [{**choices_result("positive")[0], "extra": 1}],
    "not a list",
]


@pytest.mark.parametrize("result", BAD_RESULTS, ids=range(len(BAD_RESULTS)))
def test_a_bad_answer_gets_exactly_the_error_an_annotator_would(result, make_user, make_job, login):
    job = make_job(n_items=1, overlap=1)
    annotator = login(make_user())
    task = annotator.post(f"/api/jobs/{job.id}/next").get_json()["task"]
    real = error_of(annotator.post(task["answer_url"], json={"result": result}))
    preview = error_of(login(job.owner).post("/api/preview/answer", json={
        "label_config": job.label_config, "data": task["data"], "result": result}))
    assert (preview["code"], preview["message"]) == (real["code"], real["message"])


# --- bad input: always a clear 4xx ---------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/preview", "/api/preview/answer"])
@pytest.mark.parametrize("kwargs, message", [
    ({"data": "label_config=x", "content_type": "application/x-www-form-urlencoded"}, "Send a JSON object"),
    ({"data": "{not json", "content_type": "application/json"}, "not valid JSON"),
    ({"json": [TEXT_CONFIG]}, "Send a JSON object"),
    ({"json": {"data": {"text": "x"}}}, "Send `label_config`"),
    ({"json": {"label_config": TEXT_CONFIG}}, "Send `data`"),
    ({"json": {"label_config": 7, "data": {"text": "x"}}}, "must be the labeling config's XML"),
    ({"json": {"label_config": "", "data": {"text": "x"}}}, "The labeling config is empty"),
    ({"json": {"label_config": TEXT_CONFIG, "data": ["text"]}}, "The row must be a JSON object"),
    ({"json": {"label_config": TEXT_CONFIG, "data": "text"}}, "The row must be a JSON object"),
    ({"json": {"label_config": TEXT_CONFIG, "data": {"txt": "x"}}},
     "The row: missing field 'text'; the labeling config reads $text."),
    ({"json": {"label_config": TEXT_CONFIG, "data": {"text": ""}}}, "missing field 'text'"),
    ({"json": {"label_config": TEXT_CONFIG, "data": {"text": {"nested": 1}}}}, "'text' must be text"),
    ({"json": {"label_config": TEXT_CONFIG, "data": {"text": "x", "_gold": {"sentiment": "maybe"}}}},
     "is not a valid answer for 'sentiment'"),
    ({"json": {"item_id": "seven"}}, "item_id"),
    ({"json": {"item_id": 0}}, "item_id"),
])
def test_bad_input_is_a_400_saying_what_is_wrong(requester, path, kwargs, message):
    error = error_of(requester.post(path, **kwargs))
    assert message in error["message"]


@pytest.mark.parametrize("config, code, names", [
    ("<View><Text name='t' value='$t'/><Choices name='c' toName='t'><Choice value='a'/><Choice value='b'/>"
     "</Choices><Foo name='x'/></View>", "invalid_config", "<Foo>"),
    ("<View><Text name='t' value='$t'/><Choices name='c' toName='t'><Choice value='a'/></Choices><Video name='v' value='$v'/></View>",
     "invalid_config", "Video"),
    ("<View><Text name='t' value='$t'/><Choices name='c' toName='nowhere'><Choice value='a'/><Choice value='b'/></Choices></View>",
     "invalid_config", 'Control "c"'),
    ("<View><Text name='t' value='$t'/><Choices name='c' toName='t'><Choice value='a'/></Choices>", "invalid_config",
     "Invalid labeling config"),
    ("<View><Text name='t' value='t'/><Choices name='c' toName='t'><Choice value='a'/></Choices></View>",
     "invalid_config", '<Text name="t">'),
])
def test_a_config_error_names_the_tag_as_creating_the_job_would(requester, config, code, names):
    error = error_of(requester.post("/api/preview", json={"label_config": config, "data": {"t": "x"}}))
    assert error["code"] == code and names in error["message"], error
    form = requester.post("/jobs/new", data={"title": "T", "label_config": config, "reward": 10, "overlap": 1,
                                              "seconds_per_task": 30, "aggregation": "auto",
                                              "min_level": "newcomer"})
    assert form.status_code == 400
    assert error["message"] in html.unescape(form.get_data(as_text=True))  # the form's own words


def test_a_config_over_the_size_limit_is_refused(requester):
    huge = "<View>" + "<!--" + "x" * MAX_CONFIG_CHARS + "--></View>"
    error = error_of(requester.post("/api/preview", json={"label_config": huge, "data": {"text": "x"}}))
    assert f"longer than {MAX_CONFIG_CHARS} characters" in error["message"]


def test_a_body_over_the_json_limit_is_refused(requester, app):
    limit = app.config["MAX_JSON_BYTES"]
    error = error_of(requester.post("/api/preview", json={"label_config": TEXT_CONFIG,
                                                          "data": {"text": "x" * limit}}))
    assert f"larger than {limit} bytes" in error["message"]


def test_an_answer_without_result_is_refused(requester):
    error = error_of(requester.post("/api/preview/answer", json={"label_config": TEXT_CONFIG,
                                                                 "data": {"text": "x"}}))
    assert error == {"code": "invalid_answer", "message": "The answer has no `result`.", "details": {}}


# --- one of the requester's uploaded items ---------------------------------------------------------

def test_an_item_previews_with_its_stored_data(make_user, make_job, login, db):
    owner = make_user("requester")
    job = make_job(owner, publish=False, rows=[{"text": "first row", "note": "mine"}, {"text": "second"}])
    first = db.session.scalars(db.select(Item).where(Item.job_id == job.id).order_by(Item.id)).first()
    client = login(owner)
    body = client.post("/api/preview", json={"item_id": first.id}).get_json()
    assert body["task"] == {"item_id": first.id, "data": {"text": "first row"}}
    assert body["spec"] == spec_json(job.label_config)
    ok = client.post("/api/preview/answer", json={"item_id": first.id, "result": choices_result("neutral")})
    assert ok.status_code == 200 and ok.get_json()["answer"]["choices"] == {"sentiment": ["neutral"]}
    # Another config for the same item: it must read fields the item has.
    error = error_of(client.post("/api/preview", json={"item_id": first.id, "label_config": SPAN_CONFIG}))
    assert error["message"] == f"Item {first.id}: missing field 'html'; the labeling config reads $html."


def test_an_uploaded_audio_item_is_checked_against_its_recorded_duration(make_user, login, app, db):
    from annotation.imports import UploadedFile
    from app.operations.jobs import add_items, create_job

    owner = make_user("requester")
    job = create_job(owner, title="Tones", label_config=SEGMENT_CONFIG, reward=10, overlap=1)
    add_items(owner, job, [UploadedFile("t.wav", bursts_wav([(1.0, 2.0)], seconds=4.0))],
              media_root=app.config["MEDIA_ROOT"])
    db.session.commit()
    item = db.session.scalars(db.select(Item).where(Item.job_id == job.id)).one()
    client = login(owner)
    task = client.post("/api/preview", json={"item_id": item.id}).get_json()["task"]
    assert task["data"] == {"audio": item.data["audio"]}  # the media URL, never the file name
    with client.get(task["data"]["audio"]) as media:  # which the requester may open
        assert media.status_code == 200

    control = parse_label_config(SEGMENT_CONFIG).controls[0]

    def segment(end: float):
        return [{"from_name": control.name, "to_name": control.to_name, "type": control.result_type,
                 "value": {"start": 1.0, "end": end, "labels": [control.choices[0]]}}]

    assert client.post("/api/preview/answer", json={"item_id": item.id, "result": segment(2.0)}).status_code == 200
    assert error_of(client.post("/api/preview/answer", json={"item_id": item.id, "result": segment(9.0)}))


def test_another_requesters_item_is_not_found(make_user, make_job, login, db):
    job = make_job(publish=False, n_items=1)
    item_id = db.session.scalars(db.select(Item.id).where(Item.job_id == job.id)).one()
    stranger = login(make_user("requester"))
    assert error_of(stranger.post("/api/preview", json={"item_id": item_id}), 404)["code"] == "not_found"
    assert error_of(stranger.post("/api/preview", json={"item_id": 2_000_000}), 404)["code"] == "not_found"


# --- who may -------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/preview", "/api/preview/answer"])
def test_only_requesters_may_preview(path, app, make_user, login):
    body = {"label_config": TEXT_CONFIG, "data": {"text": "x"}, "result": choices_result("positive")}
    assert error_of(app.test_client().post(path, json=body), 401)["code"] == "unauthorized"
    assert error_of(login(make_user("annotator")).post(path, json=body), 403)["code"] == "permission_denied"
    # An annotator's refusal does not depend on the body being good.
    assert error_of(login(make_user("annotator")).post(path, json={}), 403)["code"] == "permission_denied"
    assert login(make_user("requester")).post(path, json=body).status_code == 200
    assert login(make_user("admin")).post(path, json=body).status_code == 200


# --- the pages -----------------------------------------------------------------------------------

def test_the_new_job_form_carries_the_preview_panel(requester):
    page = requester.get("/jobs/new").get_data(as_text=True)
    assert 'id="preview"' in page and 'data-config-field="label_config"' in page
    assert "js/preview.js" in page and 'id="preview-row"' in page
    assert "{&#34;text&#34;: &#34;Type one of your rows here.&#34;}" in page  # a row the example config reads


def test_the_draft_page_previews_its_first_item_and_a_published_one_does_not(make_user, make_job, login, db):
    owner = make_user("requester")
    draft = make_job(owner, publish=False, rows=[{"text": "alpha"}, {"text": "beta"}])
    ids = db.session.scalars(db.select(Item.id).where(Item.job_id == draft.id).order_by(Item.id)).all()
    client = login(owner)
    page = client.get(f"/jobs/{draft.id}").get_data(as_text=True)
    assert 'id="preview-item"' in page and "js/preview.js" in page and 'id="preview-config"' in page
    assert page.index(f'<option value="{ids[0]}">#{ids[0]} alpha') < page.index(f'<option value="{ids[1]}">')
    published = make_job(owner, n_items=1)
    page = client.get(f"/jobs/{published.id}").get_data(as_text=True)
    assert 'id="preview"' not in page and "js/preview.js" not in page


def test_a_draft_without_items_previews_a_typed_row(make_user, make_job, login):
    owner = make_user("requester")
    job = make_job(owner, publish=False, rows=[], label_config=IMAGE_CONFIG)
    page = login(owner).get(f"/jobs/{job.id}").get_data(as_text=True)
    assert 'id="preview-row"' in page and 'id="preview-file"' in page and 'id="preview-item"' not in page
