"""Reading answers: tolerant of wrapping, strict about content, confidence from log-probabilities."""

import json
import math

import pytest

from moddistill.teacher.answers import AnswerError, parse_answer
from tests.fake_openai import _TOKEN, _token_logprob

IDS = ("weapons", "drugs")


def msg(content, finish="stop", logprobs=None):
    return {"content": content, "finish_reason": finish, "logprobs": logprobs or []}


def verdicts(weapons=True, drugs=False, conf=0.9):
    return {"weapons": {"violates": weapons, "confidence": conf}, "drugs": {"violates": drugs, "confidence": conf}}


@pytest.mark.parametrize("content", [
    json.dumps({"rationale": "a gun", "verdicts": verdicts()}),
    "Here you go:\n```json\n" + json.dumps({"rationale": "a gun", "verdicts": verdicts()}) + "\n```",
    "Verdict follows. " + json.dumps({"rationale": "a gun", **verdicts()}) + " Hope that helps!",
    json.dumps({"rationale": "a gun", "verdicts": {"weapons": {"violates": "yes", "confidence": 0.9},
                                                   "drugs": {"violates": "no", "confidence": 0.9}}}),
])
def test_tolerant_of_wrapping(content):
    answer = parse_answer(msg(content), IDS, "all_policies")
    assert answer.verdicts["weapons"].prob == pytest.approx(0.9) and answer.verdicts["drugs"].prob == pytest.approx(0.1)
    assert answer.verdicts["weapons"].source == "stated" and answer.rationale == "a gun"


@pytest.mark.parametrize("message, kind", [
    (msg(json.dumps({"verdicts": verdicts()})[:30], finish="length"), "truncated"),
    (msg("I think it violates weapons."), "unparseable"),
    (msg('{"verdicts": {weapons: true}}'), "unparseable"),
    (msg(json.dumps({"verdicts": {**verdicts(), "firearms": {"violates": True, "confidence": 1}}})), "unknown_policy"),
    (msg(json.dumps({"verdicts": {"weapons": {"violates": True, "confidence": 1}}})), "incomplete"),
    (msg(json.dumps({"verdicts": verdicts(conf=85)})), "invalid_value"),
    (msg(json.dumps({"verdicts": {**verdicts(), "drugs": {"violates": "maybe", "confidence": 0.5}}})), "invalid_value"),
])
def test_unusable_answers_are_typed_errors_never_guesses(message, kind):
    with pytest.raises(AnswerError) as e:
        parse_answer(message, IDS, "all_policies")
    assert e.value.kind == kind


def test_confidence_from_logprobs_where_returned():
    content = json.dumps({"rationale": "a gun", "verdicts": verdicts()})
    tokens = [_token_logprob(t) for t in _TOKEN.findall(content)]
    answer = parse_answer(msg(content, logprobs=tokens), IDS, "all_policies")
    assert answer.verdicts["weapons"].prob == pytest.approx(0.8) and answer.verdicts["drugs"].prob == pytest.approx(0.2)
    assert {v.source for v in answer.verdicts.values()} == {"logprobs"}


def test_logprobs_with_tokens_that_carry_punctuation_and_only_the_chosen_token():
    content = '{"rationale": "", "violates": true, "confidence": 0.6}'
    tokens = [{"token": '{"rationale": "", "violates":', "logprob": 0.0, "top_logprobs": []},
              {"token": " true", "logprob": math.log(0.7), "top_logprobs": []},
              {"token": ', "confidence": 0.6}', "logprob": 0.0, "top_logprobs": []}]
    answer = parse_answer(msg(content, logprobs=tokens), ("adult",), "per_policy")
    assert answer.verdicts["adult"].prob == pytest.approx(0.7) and answer.verdicts["adult"].source == "logprobs"


def test_logprobs_that_do_not_spell_the_content_fall_back_to_the_stated_confidence():
    content = json.dumps({"rationale": "r", "violates": False, "confidence": 0.75})
    tokens = [{"token": "something else", "logprob": -1.0, "top_logprobs": []}]
    answer = parse_answer(msg(content, logprobs=tokens), ("adult",), "per_policy")
    assert answer.verdicts["adult"].prob == pytest.approx(0.25) and answer.verdicts["adult"].source == "stated"


def test_violations_answer_lists_only_the_violated_policies():
    answer = parse_answer(msg('{"violations": [{"policy": "drugs", "confidence": 0.7}, "drugs"]}'), IDS, "violations")
    assert answer.verdicts["drugs"].violates and answer.verdicts["drugs"].prob == pytest.approx(1.0)  # the surer listing
    assert not answer.verdicts["weapons"].violates and answer.verdicts["weapons"].prob == 0.0
    empty = parse_answer(msg('Sure: {"violations": []}'), IDS, "violations")
    assert all(not v.violates and v.prob == 0.0 for v in empty.verdicts.values())


@pytest.mark.parametrize("content, kind", [
    ('{"violations": [{"policy": "firearms", "confidence": 0.9}]}', "unknown_policy"),
    ('{"violations": "weapons"}', "invalid_value"),
    ('{"verdicts": {}}', "invalid_value"),
    ('{"violations": [{"confidence": 0.9}]}', "invalid_value"),
    ('{"violations": [{"policy": "weapons", "confidence": 90}]}', "invalid_value"),
    ('{"violations": [{"policy": "weap', "unparseable"),
])
def test_unusable_violations_answers_are_typed_errors(content, kind):
    with pytest.raises(AnswerError) as e:
        parse_answer(msg(content), IDS, "violations")
    assert e.value.kind == kind
