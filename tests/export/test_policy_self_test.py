"""The export's self-test on the policy's own examples."""

import numpy as np

from moddistill.data.listings import render_listing
from moddistill.export.self_test import policy_self_test, self_test_lines


def test_self_test_names_allowed_examples_rejected_and_violations_missed(policy):
    examples = policy.examples
    ids = policy.ids

    def perfect(texts):
        by_text = {render_listing(e.listing): e for e in examples}
        return np.array([[0.9 if p in by_text[t].violates else 0.1 for p in ids] for t in texts])

    thresholds = {p: 0.5 for p in ids}
    result = policy_self_test(policy, perfect, thresholds)
    assert result["passed"] and result["examples"] == len(examples) > 0
    assert result["allowed"] == sum(e.is_lookalike for e in examples)
    lookalike = next(e for e in examples if e.is_lookalike)
    violation = next(e for e in examples if not e.is_lookalike)

    def flawed(texts):
        s = perfect(texts)
        for i, t in enumerate(texts):
            if t == render_listing(lookalike.listing):
                s[i, ids.index("fraud_scams")] = 0.97
            if t == render_listing(violation.listing):
                s[i, ids.index(violation.violates[0])] = 0.3
        return s

    # the violation was held out in validation (never trained on); the look-alike trained
    result = policy_self_test(policy, flawed, thresholds, held_out={violation.listing.id, "lst-00001"})
    assert not result["passed"] and result["held_out"] == 1
    assert result["allowed_rejected"] == [{"id": lookalike.listing.id, "title": lookalike.listing.title,
                                           "held_out": False, "flagged": {"fraud_scams": 0.97}}]
    assert result["violating_missed"] == [{"id": violation.listing.id, "title": violation.listing.title,
                                           "held_out": True, "missed": {violation.violates[0]: 0.3}}]
    lines = self_test_lines(result)
    text = "\n".join(lines)
    assert "**failed**" in text and f"`{lookalike.listing.id}`" in text and "fraud_scams 0.97" in text
    assert "1 of them were held out" in text
    assert [line.endswith("(held out: never trained on)") for line in lines if line.startswith("- ")] == [False, True]
    # raising the threshold past the look-alike's score clears it
    assert not policy_self_test(policy, flawed, {**thresholds, "fraud_scams": 0.98})["allowed_rejected"]
