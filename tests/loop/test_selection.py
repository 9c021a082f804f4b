"""Selection (loop/selection.py, scripts/select_batch.py): the next labelling batch is the listings nearest a threshold (or
where student and teacher disagree), with near-copies skipped, quotas kept and a share chosen for diversity; never
a labelled listing; bad budgets and pools refused in one line."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from moddistill.data.listings import Listing, read_listings
from moddistill.errors import UserError
from moddistill.loop.selection import select_batch
from moddistill.loop.settings import SelectionSettings
from tests.conftest import ROOT, SAMPLE_LISTINGS, read_jsonl, shipped_settings, write_jsonl
from tests.test_exit_codes import run_script

POLICIES = ["weapons", "drugs"]
THRESHOLDS = [0.5, 0.5]


def selection(**changes) -> SelectionSettings:
    return shipped_settings(SelectionSettings, "select_batch", **changes)


def listing(i: int, title: str, language: str = "en") -> Listing:
    return Listing(id=f"x{i}", title=title, description=f"{title} for sale, good condition", category="Misc",
                   price=10.0, currency="USD", market="US", language=language)


WORDS = ["lamp", "kettle", "bicycle", "guitar", "sofa", "camera", "drill", "tent", "mirror", "blender", "kayak",
         "violin", "helmet", "scooter", "printer", "stroller", "toaster", "jacket", "watch", "puzzle"]


def distinct_pool(n: int, language=lambda i: "en") -> list[Listing]:
    return [listing(i, f"{WORDS[i % len(WORDS)]} model {chr(65 + i // len(WORDS))}{i}", language(i)) for i in range(n)]


def sure_scores(n: int) -> np.ndarray:
    """Far from both thresholds: 0.01 for every policy."""
    return np.full((n, len(POLICIES)), 0.01)


def test_uncertainty_takes_the_listings_nearest_a_threshold_first():
    pool = distinct_pool(20)
    scores = sure_scores(20)
    scores[[3, 11, 17], 0] = [0.49, 0.52, 0.45]  # weapons near its threshold
    scores[7, 1] = 0.5
    picks, info = select_batch(pool, scores, POLICIES, THRESHOLDS, selection(budget=4, diversity=0))
    assert [p.index for p in picks] == [7, 3, 11, 17]  # closest first
    assert picks[0].policy == "drugs" and "drugs score 0.500, threshold 0.500" in picks[0].reason
    assert all(p.strategy == "uncertainty" for p in picks) and info["by_part"] == {"uncertainty": 4}
    assert picks[0].score == pytest.approx(1.0) and picks[-1].score < picks[1].score


def test_near_copies_are_skipped_so_a_batch_is_not_one_case_many_times():
    pool = [listing(i, "Glock 19 gen5 pistol, two mags") for i in range(10)] + distinct_pool(20)[10:]
    pool = [Listing(**{**vars(x), "id": f"y{i}"}) for i, x in enumerate(pool)]
    scores = sure_scores(len(pool))
    scores[:10, 0] = 0.5  # ten copies, all on the threshold
    scores[10:13, 0] = 0.4
    picks, info = select_batch(pool, scores, POLICIES, THRESHOLDS, selection(budget=4, diversity=0))
    assert [p.index for p in picks] == [0, 10, 11, 12]
    assert info["near_copies_skipped"] == 9


def test_language_and_policy_quotas_cap_their_share_of_the_batch():
    pool = distinct_pool(40, language=lambda i: "th" if i < 20 else "en")
    scores = sure_scores(40)
    scores[:20, 0] = 0.5  # every Thai listing is on the weapons threshold
    scores[20:30, 1] = 0.3
    settings = selection(budget=10, diversity=0, max_share={"language": 0.5, "policy": None})
    picks, _ = select_batch(pool, scores, POLICIES, THRESHOLDS, settings)
    assert sum(pool[p.index].language == "th" for p in picks) == 5
    settings = selection(budget=10, diversity=0, max_share={"language": None, "policy": 0.5})
    picks, info = select_batch(pool, scores, POLICIES, THRESHOLDS, settings)
    assert sum(p.policy == "weapons" for p in picks) == 5 and info["quota_relaxed"] == 0


def test_quotas_are_relaxed_and_counted_when_the_pool_cannot_meet_them():
    pool = distinct_pool(10, language=lambda i: "th")
    picks, info = select_batch(pool, sure_scores(10), POLICIES, THRESHOLDS,
                               selection(budget=6, diversity=0, max_share={"language": 0.5, "policy": None}))
    assert len(picks) == 6 and info["quota_relaxed"] == 3


def test_diversity_picks_what_is_farthest_from_everything_labelled():
    labelled = [listing(100 + i, f"{w} model Z") for i, w in enumerate(WORDS[:10])]
    pool = [listing(i, f"{w} model Z") for i, w in enumerate(WORDS[:10])]  # copies of labelled listings
    pool.append(listing(50, "ผ้าไหมไทยทอมือ ลายโบราณ"))  # nothing like anything labelled
    picks, info = select_batch(pool, sure_scores(len(pool)), POLICIES, THRESHOLDS,
                               selection(budget=2, diversity=0.5, max_similarity=0.99), labelled=labelled)
    assert info["by_part"] == {"uncertainty": 1, "diversity": 1}
    diverse = next(p for p in picks if p.strategy == "diversity")
    assert diverse.index == 10 and "cosine distance" in diverse.reason


def test_disagreement_ranks_by_the_gap_between_student_and_teacher():
    pool = distinct_pool(6)
    student = sure_scores(6)
    teacher = sure_scores(6)
    teacher[4, 1], teacher[2, 0] = 0.99, 0.6
    teacher[5] = np.nan  # no teacher label: never ranked by disagreement
    picks, _ = select_batch(pool, student, POLICIES, THRESHOLDS,
                            selection(budget=2, strategy="disagreement", diversity=0), teacher=teacher)
    assert [p.index for p in picks] == [4, 2]
    assert picks[0].reason == "drugs: student 0.010, teacher 0.990"


def test_random_is_seeded_and_distinct():
    pool = distinct_pool(30)
    a, _ = select_batch(pool, None, POLICIES, THRESHOLDS, selection(budget=10, strategy="random", seed=3))
    b, _ = select_batch(pool, None, POLICIES, THRESHOLDS, selection(budget=10, strategy="random", seed=3))
    assert [p.index for p in a] == [p.index for p in b] and len({p.index for p in a}) == 10


@pytest.mark.parametrize("budget, pool, message", [
    (5, [], "the unlabelled pool is empty"),
    (5, distinct_pool(3), "budget 5 is larger than the unlabelled pool (3 listings)"),
])
def test_impossible_batches_are_refused(budget, pool, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        select_batch(pool, sure_scores(len(pool)), POLICIES, THRESHOLDS, selection(budget=budget))


@pytest.fixture(scope="module")
def spread(tiny_run, sample_slice, tmp_path_factory):
    from tests.fusion.test_fusion import spread_export

    return spread_export(tiny_run, sample_slice, tmp_path_factory.mktemp("select") / "export")


def test_select_writes_listing_rows_none_labelled_with_their_selection(spread, sample_slice, tmp_path, monkeypatch,
                                                                       capsys):
    pool = read_jsonl(sample_slice["listings"])
    labelled = write_jsonl(tmp_path / "labels.jsonl", [{"id": r["id"]} for r in pool[:100]] + [{"id": "not-in-pool"}])
    out = tmp_path / "batch.jsonl"
    code, err = run_script("select_batch", [f"export_dir={spread}", f"pool={sample_slice['listings']}", "budget=20",
                                      f"output={out}", f"exclude={labelled}", "progress=false", "diversity=0.25"],
                           monkeypatch, capsys)
    assert code == 0, err
    batch, _ = read_listings(out)  # label.py and moderate.py read it as is
    rows = read_jsonl(out)
    assert len(batch) == 20 and not {x.id for x in batch} & {r["id"] for r in pool[:100]}
    assert {r["selection"]["strategy"] for r in rows} == {"uncertainty", "diversity"}
    assert [r["selection"]["rank"] for r in rows] == list(range(1, 21))
    summary = json.loads((tmp_path / "batch.summary.json").read_text())
    assert summary["already_labelled"] == 100 and summary["exclude_ids_not_in_pool"] == 1
    assert summary["unlabelled"] == 60 and sum(summary["by_language"].values()) == 20


def test_select_refuses_a_budget_beyond_the_unlabelled_pool_in_one_line(spread, sample_slice, tmp_path, monkeypatch,
                                                                         capsys):
    labelled = write_jsonl(tmp_path / "labels.jsonl", [{"id": r["id"]} for r in read_jsonl(sample_slice["listings"])[:150]])
    code, err = run_script("select_batch", [f"export_dir={spread}", f"pool={sample_slice['listings']}", "budget=11",
                                      f"output={tmp_path / 'b.jsonl'}", f"exclude={labelled}"], monkeypatch, capsys)
    assert code == 2 and "Traceback" not in err
    assert "budget 11 is larger than the unlabelled pool: 10 listings (160 in" in err


TOY_STRATEGY = """
import numpy as np

from moddistill.loop.selection import Ranking


class SurestFirst:
    \"\"\"The listings the student is surest to flag first: the opposite of uncertainty.\"\"\"

    needs_scores = True

    def rank(self, scores, teacher, policy_ids, thresholds, margins):
        about = scores.argmax(axis=1)
        return Ranking(scores.max(axis=1), about, [f"{policy_ids[j]} at {scores[i, j]:.3f}" for i, j in enumerate(about)])
"""


def test_a_strategy_from_outside_the_package_is_one_module(spread, sample_slice, tmp_path, monkeypatch, capsys):
    """strategy=package.module:Name runs a ranking strategy that lives outside the package through select_batch.py,
    with the batch's quotas and near-copy check; a name that does not import is refused in one line."""
    (tmp_path / "toy_strategies.py").write_text(TOY_STRATEGY, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "batch.jsonl"
    args = [f"export_dir={spread}", f"pool={sample_slice['listings']}", "budget=10", f"output={out}", "progress=false",
            "max_share.policy=null", "max_share.language=null"]
    code, err = run_script("select_batch", args + ["strategy=toy_strategies:SurestFirst"], monkeypatch, capsys)
    assert code == 0, err
    rows = read_jsonl(out)
    assert {r["selection"]["strategy"] for r in rows} == {"toy_strategies:SurestFirst"}
    scores = [r["selection"]["score"] for r in rows]
    assert scores == sorted(scores, reverse=True) and len(rows) == 10
    from moddistill.data.listings import read_listings
    from moddistill.serving.runtime import ExportedModel

    pool, _ = read_listings(sample_slice["listings"])
    surest = ExportedModel.load(spread).score(pool, progress=False).max(axis=1)
    assert min(scores) >= np.sort(surest)[-40]  # from the top of the pool (near copies skipped)
    assert json.loads((tmp_path / "batch.summary.json").read_text())["strategy"] == "toy_strategies:SurestFirst"

    code, err = run_script("select_batch", args + ["strategy=toy_strategies:Nope"], monkeypatch, capsys)
    assert code == 2 and "config key strategy='toy_strategies:Nope': cannot import toy_strategies:Nope" in err


def test_no_script_shadows_a_standard_library_module():
    """A script's folder is first on sys.path: scripts/select.py once made every script's `import subprocess` fail."""
    assert not {p.stem for p in (ROOT / "scripts").glob("*.py")} & set(sys.stdlib_module_names)


def test_select_batch_runs_as_a_command(tmp_path):
    out = tmp_path / "random.jsonl"
    proc = subprocess.run([sys.executable, "scripts/select_batch.py", f"pool={SAMPLE_LISTINGS}", "budget=5",
                           f"output={out}", "strategy=random"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(read_jsonl(out)) == 5 and "random 5" in proc.stdout
