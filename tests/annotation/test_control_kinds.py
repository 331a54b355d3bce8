"""Every control kind end to end on the server (issue #10): answers checked against the config,
decided by the kind's consensus, accepted or rejected with a reason in the task's terms, gold
for every kind, and replayable decisions."""
from __future__ import annotations

import datetime as dt

import pytest

from annotation.decisions import replay_decisions
from annotation.errors import InvalidAnswer
from annotation.label_config import normalize_answer, parse_label_config
from annotation.models import Answer, AnswerStatus, Item

BOXES = """<View><Header value="Box every car"/><Image name="img" value="$image"/>
<RectangleLabels name="box" toName="img"><Label value="car"/><Label value="bus"/></RectangleLabels>
<Choices name="quality" toName="img"><Choice value="good"/><Choice value="blurry"/></Choices></View>"""
NER = """<View><Text name="text" value="$text"/>
<Labels name="ner" toName="text"><Label value="PER"/><Label value="LOC"/></Labels>
<TextArea name="comment" toName="text"/></View>"""
ASR = """<View><Audio name="audio" value="$audio"/><TextArea name="transcript" toName="audio"/></View>"""
SCALARS = """<View><Text name="text" value="$text"/><Rating name="stars" toName="text" maxRating="5"/>
<Number name="age" toName="text" min="0" max="120"/></View>"""
PAIRWISE = """<View><Text name="a" value="$a"/><Text name="b" value="$b"/>
<Pairwise name="better" toName="a,b"/></View>"""
MULTI = """<View><Text name="text" value="$text"/><Choices name="tags" toName="text" choice="multiple">
<Choice value="x"/><Choice value="y"/><Choice value="z"/></Choices></View>"""
POLY = """<View><Image name="img" value="$image"/><PolygonLabels name="poly" toName="img">
<Label value="roof"/></PolygonLabels><KeyPointLabels name="kp" toName="img"><Label value="door"/>
</KeyPointLabels></View>"""


def box(x, y, w, h, label="car"):
    return {"from_name": "box", "to_name": "img", "type": "rectanglelabels",
            "value": {"x": x, "y": y, "width": w, "height": h, "rotation": 0, "rectanglelabels": [label]}}


def quality(value="good"):
    return {"from_name": "quality", "to_name": "img", "type": "choices", "value": {"choices": [value]}}


def span(start, end, label, text):
    return {"from_name": "ner", "to_name": "text", "type": "labels",
            "value": {"start": start, "end": end, "text": text[start:end], "labels": [label]}}


def words(text, name="transcript", to="audio"):
    return {"from_name": name, "to_name": to, "type": "textarea", "value": {"text": [text]}}


def run(db, make_user, make_job, config, rows, answers, **job):
    """Three workers answer the one item with the results in `answers`; returns the item and
    its answers, decided."""
    from annotation.tasks import next_task_for
    from app.extensions import utcnow
    from app.operations.tasks import submit_answer

    job = make_job(label_config=config, rows=rows, overlap=len(answers), **job)
    start = utcnow()
    for result in answers:
        worker = make_user()
        assignment = next_task_for(worker, job, now=start)
        submit_answer(worker, assignment.id, result, now=start + dt.timedelta(seconds=20))
        db.session.commit()
    item = db.session.scalars(db.select(Item).where(Item.job_id == job.id)).one()
    decided = db.session.scalars(db.select(Answer).where(Answer.item_id == item.id).order_by(Answer.id)).all()
    return job, item, decided


def test_boxes_fuse_and_a_missing_box_is_named(db, make_user, make_job):
    answers = [[box(10, 10, 20, 20), box(60, 60, 10, 10, "bus"), quality()],
               [box(11, 10, 20, 21), box(61, 60, 10, 10, "bus"), quality()],
               [box(10, 11, 19, 20), quality("blurry")]]
    job, item, decided = run(db, make_user, make_job, BOXES, [{"image": "https://example.org/a.png"}], answers,
                             aggregation="majority_vote")
    assert item.is_complete
    fused = item.consensus["box"]
    assert [b["label"] for b in fused] == ["bus", "car"]
    assert abs(fused[1]["x"] - 10.33) < 0.01 and item.consensus["quality"] == ["good"]
    assert [a.status for a in decided] == [AnswerStatus.ACCEPTED, AnswerStatus.ACCEPTED, AnswerStatus.REJECTED]
    reason = decided[2].reject_reason
    assert "missed bus box at 60%, 60%" in reason or "quality: the consensus is good" in reason
    assert "quality: the consensus is good" in reason
    assert replay_decisions(job.id).ok


def test_spans_vote_per_character_and_the_comment_is_kept_but_not_decided(db, make_user, make_job):
    text = "我住在北京，Ann 🙂 lives in Paris"
    start = text.index("Ann")
    paris = text.index("Paris")
    answers = [[span(start, start + 3, "PER", text), span(paris, paris + 5, "LOC", text), words("fine", "comment", "text")],
               [span(start, start + 3, "PER", text), span(paris, paris + 5, "LOC", text)],
               [span(start, start + 3, "PER", text), span(3, 5, "LOC", text)]]
    job, item, decided = run(db, make_user, make_job, NER, [{"text": text}], answers, aggregation="dawid_skene")
    assert item.consensus == {"ner": [{"start": start, "end": start + 3, "label": "PER"},
                                      {"start": paris, "end": paris + 5, "label": "LOC"}]}
    assert decided[0].choices["comment"] == "fine" and "comment" not in item.consensus
    assert [a.status for a in decided] == [AnswerStatus.ACCEPTED] * 3  # F1 0.5 is the default bar
    assert replay_decisions(job.id).ok


def test_a_span_whose_offsets_count_utf16_units_is_refused_with_why():
    spec = parse_label_config(NER)
    text = "🙂 Ann and more"
    with pytest.raises(InvalidAnswer, match="code points"):
        # a browser counting UTF-16 units puts "Ann" at 3–6; in code points it is 2–5
        normalize_answer(spec, [{"from_name": "ner", "to_name": "text", "type": "labels",
                                 "value": {"start": 3, "end": 6, "text": "Ann", "labels": ["PER"]}}], {"text": text})
    with pytest.raises(InvalidAnswer, match="not inside the text"):
        normalize_answer(spec, [span(0, 50, "PER", text + " " * 50)], {"text": text})


def test_transcripts_by_rover_and_wer_in_the_reason(db, make_user, make_job):
    answers = [[words("the cat sat on the mat")], [words("The cat sat on a mat")],
               [words("the cat sat on the mat")], [words("dogs run far away quickly now")]]
    job, item, decided = run(db, make_user, make_job, ASR, [{"audio": "https://example.org/a.wav"}], answers)
    assert item.consensus["transcript"] == "the cat sat on the mat"
    assert [a.status for a in decided] == [AnswerStatus.ACCEPTED] * 3 + [AnswerStatus.REJECTED]
    assert "word error rate" in decided[3].reject_reason and "the cat sat on the mat" in decided[3].reject_reason


def test_ratings_and_numbers_by_weighted_median(db, make_user, make_job):
    def answer(stars, age):
        return [{"from_name": "stars", "to_name": "text", "type": "rating", "value": {"rating": stars}},
                {"from_name": "age", "to_name": "text", "type": "number", "value": {"number": age}}]

    job, item, decided = run(db, make_user, make_job, SCALARS, [{"text": "a face"}],
                             [answer(4, 30), answer(5, 31), answer(1, 90)], aggregation="majority_vote")
    assert item.consensus == {"stars": 4, "age": 31}
    assert [a.status for a in decided] == [AnswerStatus.ACCEPTED, AnswerStatus.ACCEPTED, AnswerStatus.REJECTED]
    assert "you answered 1; the consensus is 4" in decided[2].reject_reason


def test_pairwise_is_a_two_class_question_for_the_jobs_method(db, make_user, make_job):
    def pick(side):
        return [{"from_name": "better", "to_name": "a,b", "type": "pairwise", "value": {"selected": side}}]

    job, item, decided = run(db, make_user, make_job, PAIRWISE, [{"a": "one", "b": "two"}],
                             [pick("left"), pick("left"), pick("right")], aggregation="majority_vote")
    assert item.consensus == {"better": "left"}
    assert [a.status for a in decided][-1] is AnswerStatus.REJECTED


def test_multiple_choice_is_voted_per_choice_not_as_one_set(db, make_user, make_job):
    def tags(*chosen):
        return [{"from_name": "tags", "to_name": "text", "type": "choices", "value": {"choices": list(chosen)}}]

    job, item, decided = run(db, make_user, make_job, MULTI, [{"text": "t"}],
                             [tags("x", "y"), tags("x"), tags("x", "y", "z")], aggregation="majority_vote")
    # as sets the three answers are three different classes; per choice x and y have a majority
    assert item.consensus == {"tags": ["x", "y"]}
    assert all(a.status is AnswerStatus.ACCEPTED for a in decided)
    assert replay_decisions(job.id).ok


def test_polygons_and_keypoints(db, make_user, make_job):
    def shape(dx):
        return [{"from_name": "poly", "to_name": "img", "type": "polygonlabels",
                 "value": {"points": [[10 + dx, 10], [40 + dx, 10], [40, 40], [10, 40]], "closed": True,
                           "polygonlabels": ["roof"]}},
                {"from_name": "kp", "to_name": "img", "type": "keypointlabels",
                 "value": {"x": 50 + dx, "y": 50, "width": 1, "keypointlabels": ["door"]}}]

    job, item, decided = run(db, make_user, make_job, POLY, [{"image": "https://example.org/a.png"}],
                             [shape(0), shape(1), shape(2)])
    assert len(item.consensus["poly"]) == 1 and len(item.consensus["kp"]) == 1
    assert abs(item.consensus["kp"][0]["x"] - 51) < 1.01
    assert all(a.status is AnswerStatus.ACCEPTED for a in decided)
    assert replay_decisions(job.id).ok


def test_gold_boxes_decide_the_item_and_reject_with_the_check_question_named(db, make_user, make_job):
    gold = {"box": [{"x": 50, "y": 50, "width": 10, "height": 10, "label": "car"}], "quality": "good"}
    job, item, decided = run(db, make_user, make_job, BOXES,
                             [{"image": "https://example.org/a.png", "_gold": gold}],
                             [[box(10, 10, 20, 20), quality()]] * 3, aggregation="majority_vote")
    assert item.consensus["box"] == [{"x": 50.0, "y": 50.0, "width": 10.0, "height": 10.0, "label": "car"}]
    assert all(a.status is AnswerStatus.REJECTED for a in decided)
    assert "box: this was a check question; box F1 0.00" in decided[0].reject_reason


@pytest.mark.parametrize("region, fragment", [
    (box(90, 10, 20, 10), "width must be between 0 and 10"),
    (box(10, 10, 0, 10), "above 0"),
    (box(10, 10, 5, 5, "truck"), "'truck' is not a label of 'box'"),
    ({**box(1, 1, 5, 5), "value": {**box(1, 1, 5, 5)["value"], "rotation": 30}}, "rotated"),
    ({**box(1, 1, 5, 5), "value": {**box(1, 1, 5, 5)["value"], "x": float("nan")}}, "must be a number"),
])
def test_bad_regions_are_refused_with_what_is_wrong(region, fragment):
    with pytest.raises(InvalidAnswer) as caught:
        normalize_answer(parse_label_config(BOXES), [region, quality()])
    assert fragment in caught.value.message


def test_acceptance_thresholds_are_checked_against_the_config(db, make_user, make_job):
    from annotation.errors import InvalidInput

    with pytest.raises(InvalidInput, match="takes min_f1, iou"):
        make_job(label_config=BOXES, rows=[], publish=False, acceptance={"box": {"max_wer": 0.2}})
    with pytest.raises(InvalidInput, match="not a scored control"):
        make_job(label_config=NER, rows=[], publish=False, acceptance={"comment": {"max_wer": 0.2}})
    job = make_job(label_config=BOXES, rows=[], publish=False, acceptance={"box": {"min_f1": 0.9}})
    assert job.acceptance == {"box": {"min_f1": 0.9}}
