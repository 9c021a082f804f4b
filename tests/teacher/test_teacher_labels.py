import pytest

from moddistill.data.listings import read_listings
from moddistill.data.records import RowError
from moddistill.teacher.labels import read_teacher_labels
from moddistill.teacher.replay import replay_teacher
from tests.conftest import read_jsonl, write_jsonl
from tests.data.test_listings import row


def full(policy, **values):
    return {p: values.get(p, 0) for p in policy.ids}


def test_probabilities_votes_and_hard_lists(tmp_path, policy):
    path = write_jsonl(tmp_path / "t.jsonl", [
        {"id": "a", "labels": full(policy, weapons=1, drugs=0.25), "rationale": "gun kit"},
        {"id": "b", "labels": full(policy, adult={"votes": 2, "total": 3}, wildlife=[1, 0, 0, 1])},
        {"id": "c", "labels": ["counterfeit", "fraud_scams"]},
        {"id": "d", "labels": full(policy, weapons=True)},
    ])
    labels, report = read_teacher_labels(path, policy)
    assert labels["a"].probs["weapons"] == 1.0 and labels["a"].probs["drugs"] == 0.25
    assert labels["b"].probs["adult"] == pytest.approx(2 / 3) and labels["b"].probs["wildlife"] == 0.5
    assert labels["c"].violated() == ["counterfeit", "fraud_scams"] and labels["c"].probs["weapons"] == 0.0
    assert labels["d"].probs["weapons"] == 1.0
    assert report.kept == 4


@pytest.mark.parametrize("labels, field, reason", [
    ({"guns": 1}, "labels.guns", "not in the policy"),
    (["guns"], "labels", "'guns' is not in the policy"),
    ("weapons", "labels", "expected a mapping"),
    (None, "labels", "missing"),
])
def test_label_outside_the_policy_is_an_error(tmp_path, policy, labels, field, reason):
    path = write_jsonl(tmp_path / "t.jsonl", [{"id": "a", "labels": full(policy)}, {"id": "b", "labels": labels}])
    with pytest.raises(RowError) as e:
        read_teacher_labels(path, policy)
    assert (e.value.location, e.value.field) == ("line 2", field) and reason in e.value.reason


@pytest.mark.parametrize("value, reason", [
    (1.5, "probability in [0, 1]"), (-0.1, "probability in [0, 1]"), ("yes", "probability"),
    ({"votes": 4, "total": 3}, "0 <= k <= n"), ([2, 0], "0/1 votes"),
])
def test_bad_probability_values(tmp_path, policy, value, reason):
    path = write_jsonl(tmp_path / "t.jsonl", [{"id": "a", "labels": full(policy, drugs=value)}])
    with pytest.raises(RowError, match=r"line 1, field 'labels\.drugs'") as e:
        read_teacher_labels(path, policy)
    assert reason in e.value.reason


def test_missing_policy_in_mapping_is_an_error(tmp_path, policy):
    labels = full(policy)
    del labels["adult"]
    path = write_jsonl(tmp_path / "t.jsonl", [{"id": "a", "labels": labels}])
    with pytest.raises(RowError, match="labels.adult.*missing"):
        read_teacher_labels(path, policy)


def test_replay_joins_by_id_and_refuses_unlabelled_listings(tmp_path, policy):
    listings_path = write_jsonl(tmp_path / "l.jsonl", [row(id="a"), row(id="b"), row(id="c")])
    labels_path = write_jsonl(tmp_path / "t.jsonl", [
        {"id": "c", "labels": full(policy, drugs=1)}, {"id": "a", "labels": full(policy)},
        {"id": "zz", "labels": full(policy)},
    ])
    listings, _ = read_listings(listings_path)
    with pytest.raises(RowError) as e:
        replay_teacher(listings, labels_path, policy)
    assert (e.value.file, e.value.location, e.value.field) == (str(listings_path), "line 2", "id")
    assert "no teacher label for listing 'b'" in e.value.reason

    joined, read_report, join_report, _ = replay_teacher(listings, labels_path, policy, on_error="skip",
                                                      rejects_dir=tmp_path / "rejects")
    assert [(j.listing.id, j.label.violated()) for j in joined] == [("a", []), ("c", ["drugs"])]
    assert (join_report.listings, join_report.labelled, join_report.unlabelled, join_report.unused_labels) == (3, 2, 1, 1)
    assert read_jsonl(tmp_path / "rejects" / "unlabelled_rejects.jsonl")[0]["row"]["id"] == "b"
