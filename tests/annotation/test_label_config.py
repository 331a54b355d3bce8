"""Labeling configs: parsed by label-studio-sdk, narrowed to what we serve, errors that say where."""
import pytest

from annotation.errors import InvalidAnswer, InvalidConfig
from annotation.label_config import (
    check_new_config,
    normalize_answer,
    parse_label_config,
    result_from_choices,
)

MULTI = """<View><Image name="img" value="$image"/>
<Choices name="tags" toName="img" choice="multiple"><Choice value="cat"/><Choice value="dog"/>
<Choice value="bird"/></Choices></View>"""


def test_text_single_choice_spec():
    spec = parse_label_config("""<View><Text name="t" value="$text"/>
      <Choices name="s" toName="t"><Choice value="yes"/><Choice value="no"/></Choices></View>""")
    assert spec.variables == ("text",)
    assert [(o.name, o.kind) for o in spec.objects] == [("t", "text")]
    (control,) = spec.controls
    assert (control.name, control.to_name, control.multiple, control.choices) == ("s", "t", False, ("yes", "no"))


def test_audio_and_multiple_choice():
    spec = parse_label_config(MULTI.replace("Image", "Audio"))
    assert spec.media_variables == {"image": "audio"}
    assert spec.controls[0].multiple


@pytest.mark.parametrize("xml, fragment", [
    ("", "empty"),
    ('<View><Text name="t" value="$text"', "line 1, column"),
    ('<View><Text name="t" value="$text"/><Choices name="c" toName="nope"><Choice value="a"/>'
     '<Choice value="b"/></Choices></View>', 'toName="nope" not found'),
    ('<View><Text name="t" value="$text"/><Taxonomy name="l" toName="t"><Choice value="a"/></Taxonomy></View>',
     "<Taxonomy name=\"l\"> is not supported yet"),
    ('<View><Image name="i" value="$image"/><Labels name="l" toName="i"><Label value="a"/></Labels></View>',
     "on <Image> is not supported yet"),
    ('<View><Image name="i" value="$image"/><Video name="v" value="$video"/><Choices name="c" toName="i">'
     '<Choice value="a"/><Choice value="b"/></Choices></View>', "<Video"),
    ('<View><Text name="t" value="$text"/><Choices name="c" toName="t"><Choice value="a"/></Choices></View>',
     "at least two"),
    ('<View><Text name="t" value="plain"/><Choices name="c" toName="t"><Choice value="a"/>'
     '<Choice value="b"/></Choices></View>', 'value="$field"'),
    ('<View><Text name="t" value="$text"/></View>', "no control"),
    # issue #10: a toName naming a control rather than an object was accepted and exported
    ('<View><Text name="t" value="$text"/><Choices name="c" toName="c"><Choice value="a"/>'
     '<Choice value="b"/></Choices></View>', 'toName="c" names no object'),
    ('<View><Text name="t" value="$text"/><Choices name="c" toName="t,d"><Choice value="a"/>'
     '<Choice value="b"/></Choices><Choices name="d" toName="t"><Choice value="a"/><Choice value="b"/>'
     '</Choices></View>', 'toName="d" names no object'),
])
def test_invalid_configs_say_what_and_where(xml, fragment):
    with pytest.raises(InvalidConfig) as caught:
        check_new_config(parse_label_config(xml))
    assert fragment in caught.value.message


def _region(choices, name="tags"):
    return {"from_name": name, "to_name": "img", "type": "choices", "value": {"choices": choices}}


def test_answers_normalize_to_config_order():
    spec = parse_label_config(MULTI)
    assert normalize_answer(spec, [_region(["bird", "cat"])]) == {"tags": ["cat", "bird"]}
    assert result_from_choices(spec, {"tags": ["cat"]}) == [_region(["cat"])]


@pytest.mark.parametrize("result, fragment", [
    ("nope", "must be a list"),
    ([], "has no answer"),
    ([_region(["fish"])], "'fish' is not a choice"),
    ([_region([])], "at least one"),
    ([_region(["cat", "cat"])], "repeats"),
    ([_region(["cat"]), _region(["dog"])], "answered twice"),
    ([_region(["cat"], name="other")], "not a control"),
    ([{**_region(["cat"]), "type": "labels"}], "type must be"),
    ([{**_region(["cat"]), "value": {"choices": "cat"}}], "list of strings"),
])
def test_bad_answers_say_why(result, fragment):
    with pytest.raises(InvalidAnswer) as caught:
        normalize_answer(parse_label_config(MULTI), result)
    assert fragment in caught.value.message


def test_single_choice_takes_exactly_one():
    spec = parse_label_config(MULTI.replace('choice="multiple"', 'choice="single"'))
    with pytest.raises(InvalidAnswer, match="exactly one"):
        normalize_answer(spec, [_region(["cat", "dog"])])


# --- Issue #9 §3: an annotator can store arbitrary extra JSON in an answer's result -----------------

@pytest.mark.parametrize("result, fragment", [
    ([{**_region(["cat"]), "meta": {"text": ["x" * 1000]}}], "'meta', which is not a key of a Label Studio result"),
    ([{**_region(["cat"]), "value": {"choices": ["cat"], "text": ["extra"]}}], "has 'text', which this control does not take"),
    ([{**_region(["cat"]), "to_name": "elsewhere"}], "to_name must be 'img'"),
    ([{**_region(["cat"]), "id": "x" * 65}], "id must be 1–64 letters"),
    ([{**_region(["cat"]), "id": 7}], "id must be 1–64 letters"),
    ([{**_region(["cat"]), "origin": "made-up"}], "origin must be one of"),
    ([_region(["cat"])] * 3, "answered twice"),
])
def test_an_answer_with_keys_or_values_the_config_does_not_define_is_refused(result, fragment):
    with pytest.raises(InvalidAnswer) as caught:
        normalize_answer(parse_label_config(MULTI), result)
    assert fragment in caught.value.message


def test_the_stored_result_is_the_validated_normalized_one():
    spec = parse_label_config(MULTI)
    sent = [{"id": "a1", "origin": "manual", "from_name": "tags", "type": "choices",
             "value": {"choices": ["bird", "cat"]}}]
    assert normalize_answer(spec, sent) == {"tags": ["cat", "bird"]}
    # the caller stores the very list it passed: it now holds what was checked, in config order
    assert sent == [{"id": "a1", "from_name": "tags", "to_name": "img", "type": "choices",
                     "value": {"choices": ["cat", "bird"]}, "origin": "manual"}]


def test_an_answer_is_bounded_by_the_config_not_by_what_is_sent():
    spec = parse_label_config(MULTI)
    huge = [_region(["cat"])] + [{"from_name": "tags"}] * 1_000_000
    with pytest.raises(InvalidAnswer, match="at most 2000 are taken"):
        normalize_answer(spec, huge)  # refused by its length, before any region is read
    with pytest.raises(InvalidAnswer, match="answered twice|type must be"):
        normalize_answer(spec, huge[:2000])
    with pytest.raises(InvalidAnswer, match="is not a choice"):
        normalize_answer(spec, [_region(["x" * 100_000])])


def test_a_stored_config_with_a_target_that_is_no_object_still_opens(make_user):
    """The toName check is for new jobs: a job saved before it keeps working."""
    from annotation.jobs import create_job

    xml = ('<View><Text name="t" value="$text"/><Choices name="c" toName="c"><Choice value="a"/>'
           '<Choice value="b"/></Choices></View>')
    assert parse_label_config(xml).controls[0].to_name == "c"
    with pytest.raises(InvalidConfig, match='toName="c" names no object'):
        create_job(make_user("requester"), title="Bad target", label_config=xml, reward=10, overlap=3)
