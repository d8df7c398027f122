"""Memorisation guard: membership-inference attack, release verdict, evaluate and CLI output."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_curve

from tssynth import InvalidParameterError
from tssynth.cli import main
from tssynth.metrics import (
    evaluate,
    membership_inference,
    privacy_report,
    privacy_verdict,
)
from tssynth.metrics.privacy import _tpr_at


def _table(n: int, seed: int) -> pd.DataFrame:
    """A fresh draw of one Gaussian/categorical distribution (no natural duplicates)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return pd.DataFrame(
        {
            "x": x,
            "y": x + rng.normal(size=n),
            "z": rng.choice(["u", "v", "w"], size=n, p=[0.5, 0.3, 0.2]).astype(object),
        }
    )


@pytest.fixture(scope="module")
def parts() -> tuple[pd.DataFrame, pd.DataFrame]:
    return _table(800, 0), _table(800, 1)


def test_copied_training_rows_are_caught_by_every_check(parts):
    train, holdout = parts
    copied = train.sample(800, random_state=0)
    report = privacy_report(train, copied, holdout)
    attack = report.membership_inference
    assert attack.roc_auc > 0.99 and attack.advantage > 0.95
    assert attack.tpr_at_1pct_fpr > 0.95 and attack.tpr_at_10pct_fpr > 0.95
    assert attack.n_members == attack.n_non_members == 800
    assert report.share_closer_to_train > 0.95

    verdict = privacy_verdict(report)
    assert verdict.status == "warn" and len(verdict.reasons) == 3
    text = "\n".join(verdict.reasons)
    assert "closer to a training row than to any holdout row (threshold 55 %;" in text
    assert "100.0 % of synthetic rows (800) are exact copies" in text
    assert "ROC AUC 1.000 (threshold 0.55" in text
    assert verdict.to_text().startswith("WARN\n  - ")


def test_an_independent_draw_passes(parts):
    train, holdout = parts
    report = privacy_report(train, _table(800, 2), holdout)
    attack = report.membership_inference
    assert 0.45 < attack.roc_auc < 0.55 and attack.advantage < 0.1
    assert attack.tpr_at_1pct_fpr < 0.05 and 0.03 < attack.tpr_at_10pct_fpr < 0.2
    verdict = privacy_verdict(report)
    assert verdict.status == "pass"
    # A pass lists what was checked, with the numbers.
    assert len(verdict.reasons) == 3
    assert any("exact copies" in r for r in verdict.reasons)
    assert any(f"ROC AUC {attack.roc_auc:.3f}" in r for r in verdict.reasons)
    assert any("no differential-privacy guarantee" in n for n in verdict.notes)


def test_a_few_copies_warn_only_on_copies_and_natural_duplicates_do_not(parts):
    train, holdout = parts
    fresh = _table(800, 3)
    fresh.iloc[:40] = train.iloc[:40].to_numpy()  # 5 % verbatim training rows
    verdict = privacy_verdict(privacy_report(train, fresh, holdout))
    assert verdict.status == "warn" and len(verdict.reasons) == 1
    assert "5.0 % of synthetic rows (40) are exact copies" in verdict.reasons[0]
    assert any(note.startswith("fine: ") for note in verdict.notes)

    # Two categorical columns: most real rows repeat a training row anyway.
    def cats(n: int, seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        return pd.DataFrame({c: rng.choice(list("abc"), n).astype(object) for c in "pq"})

    report = privacy_report(cats(400, 0), cats(400, 1), cats(400, 2))
    assert report.exact_copy_rate == report.holdout_copy_rate == 1.0
    assert report.membership_inference.roc_auc == pytest.approx(0.5)
    assert privacy_verdict(report).status == "pass"


def test_without_holdout_the_verdict_warns_and_the_attack_is_nan(parts):
    train, _ = parts
    report = privacy_report(train, _table(300, 4))
    assert math.isnan(report.membership_inference.roc_auc)
    assert math.isnan(report.to_dict()["membership_inference"]["advantage"])
    assert any("membership inference" in note for note in report.notes)
    verdict = privacy_verdict(report)
    assert verdict.status == "warn"
    assert (
        verdict.reasons[0].startswith("no holdout given")
        and "needed to judge" in (verdict.reasons[0])
    )


def test_verdict_names_the_dp_budget_and_checks_its_arguments(parts):
    train, holdout = parts
    report = privacy_report(train, _table(400, 5), holdout)
    verdict = privacy_verdict(report, epsilon=2.98, delta=3.1e-05)
    assert verdict.status == "pass" and (verdict.epsilon, verdict.delta) == (2.98, 3.1e-05)
    assert "trained with differential privacy, ε = 2.98, δ = 3.1e-05" in verdict.to_text()
    assert privacy_verdict(report, max_mia_auc=0.3).status == "warn"  # thresholds are used
    with pytest.raises(InvalidParameterError, match="epsilon"):
        privacy_verdict(report, epsilon=-1)
    with pytest.raises(InvalidParameterError, match="delta"):
        privacy_verdict(report, epsilon=1.0, delta=2.0)


def test_attack_respects_max_rows_and_the_seed(parts):
    train, holdout = parts
    synthetic = _table(3000, 6)
    small = membership_inference(train, synthetic, holdout, max_rows=100, random_state=1)
    assert small.n_members == small.n_non_members == 100 and small.n_synthetic == 1000
    assert len(small.notes) == 2  # candidates and reference were subsampled
    again = membership_inference(train, synthetic, holdout, max_rows=100, random_state=1)
    assert again.to_dict() == small.to_dict()
    other = membership_inference(train, synthetic, holdout, max_rows=100, random_state=2)
    assert other.to_dict() != small.to_dict()
    first = privacy_report(train, synthetic, holdout, max_rows=200, random_state=3)
    second = privacy_report(train, synthetic, holdout, max_rows=200, random_state=3)
    assert first.to_dict() == second.to_dict()


def test_tpr_at_fpr_follows_the_roc_curve():
    rng = np.random.default_rng(0)
    labels = np.r_[np.ones(500), np.zeros(500)]
    scores = np.round(rng.normal(size=1000) + labels, 1)  # ties included
    fpr, tpr, _ = roc_curve(labels, scores)
    at = _tpr_at(fpr, tpr, (0.0, 0.01, 0.1, 1.0))
    np.testing.assert_allclose(at[[1, 2]], np.interp([0.01, 0.1], fpr, tpr), atol=1e-12)
    assert at[0] == tpr[fpr == 0].max() and at[3] == 1.0


def test_evaluate_carries_the_attack_and_the_verdict(parts, tmp_path):
    train, holdout = parts
    copied = train.sample(600, random_state=1)

    class DPModel:  # what a DP-trained synthesizer exposes
        epsilon_, delta_, loss_history_ = 2.98, 3.1e-05, None

    result = evaluate(train, copied, holdout=holdout, metrics=["privacy"], synthesizer=DPModel())
    data = result.to_dict()["privacy"]
    # 600 of 800 members sit on a synthetic row: AUC = 0.75 * 1 + 0.25 * 0.5.
    assert data["membership_inference"]["roc_auc"] == pytest.approx(0.875, abs=0.01)
    assert data["verdict"]["status"] == "warn" and data["verdict"]["epsilon"] == 2.98
    frame = result.to_frame().set_index("metric")
    assert (
        frame.loc["verdict.status", "text"] == "warn"
        and "closer to a training row" in frame.loc["verdict.reasons.0", "text"]
    )
    auc = frame.loc["membership_inference.roc_auc"]
    assert auc["value"] == data["membership_inference"]["roc_auc"] and pd.isna(auc["text"])
    text = result.save_html(tmp_path / "privacy.html").read_text(encoding="utf-8")
    assert 'id="privacy-verdict"' in text and "Privacy verdict: WARN" in text
    assert 'id="plot-mia-roc"' in text and "ε = 2.98" in text
    # Explicit arguments win over the synthesizer's budget.
    plain = evaluate(train, _table(600, 7), holdout=holdout, metrics=["privacy"], epsilon=1.0)
    assert plain.privacy.verdict.status == "pass" and plain.privacy.verdict.epsilon == 1.0
    with pytest.raises(InvalidParameterError, match="epsilon"):
        evaluate(train, copied, metrics=["privacy"], epsilon="big")


def test_cli_prints_the_verdict_and_reads_the_budget_from_the_generator(
    parts, tmp_path, capsys, monkeypatch
):
    import tssynth

    train, holdout = parts
    paths = {name: tmp_path / f"{name}.csv" for name in ("real", "copy", "holdout")}
    train.to_csv(paths["real"], index=False)
    train.sample(500, random_state=2).to_csv(paths["copy"], index=False)
    holdout.to_csv(paths["holdout"], index=False)
    argv = ["evaluate", str(paths["real"]), str(paths["copy"]), "--metrics", "fidelity,privacy"]
    assert main([*argv, "--holdout", str(paths["holdout"]), "-q"]) == 0
    lines = capsys.readouterr().out.splitlines()
    start = lines.index("privacy verdict: WARN")
    assert lines[0].startswith("fidelity  overall") and "membership-inference AUC" in "".join(lines)
    reasons = [line for line in lines[start + 1 :] if line.startswith("  - ")]
    assert len(reasons) == 3  # one problem per line, then the notes
    assert "closer to a training row" in reasons[0] and "exact copies" in reasons[1]
    assert lines[start + 4].startswith("  · no differential-privacy guarantee")

    class DPModel:
        epsilon_, delta_, loss_history_ = 2.98, 3.1e-05, None

    monkeypatch.setattr(tssynth, "load", lambda path: DPModel())
    assert main([*argv, "--holdout", str(paths["holdout"]), "--generator", "g", "-q"]) == 0
    assert "ε = 2.98, δ = 3.1e-05" in capsys.readouterr().out

    monkeypatch.undo()
    bad = tmp_path / "bad.tssynth"
    bad.write_bytes(b"not a generator")
    assert main([*argv, "--generator", str(bad), "-q"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tssynth: error:") and err.count("\n") == 1

    assert main([*argv, "-q"]) == 0  # no holdout: warn and say why
    out = capsys.readouterr().out
    assert "privacy verdict: WARN\n  - no holdout given" in out
