"""RESULTS.md tables: runs grouped over seeds, mean and standard deviation per setting."""

import json
import os

from mi_vae.evaluation.results import markdown


def write(runs, name, metrics):
    os.makedirs(os.path.join(runs, name, "eval"))
    with open(os.path.join(runs, name, "eval", "metrics.json"), "w") as f:
        json.dump(metrics, f)


def test_tables_group_seeds_and_sort_settings(tmp_path):
    runs = str(tmp_path)
    write(runs, "mae_normal_M1_s0", {"mi_target": 1.0, "mi_achieved": 0.9, "kl": 1.0})
    write(runs, "mae_normal_M1_s1", {"mi_target": 1.0, "mi_achieved": 1.1, "kl": 1.2})
    write(runs, "mae_normal_M0.5_s0", {"mi_target": 0.5, "mi_achieved": 0.45, "kl": 0.5})
    os.makedirs(os.path.join(runs, "mae_normal_M2_s0"))  # unfinished: no eval/metrics.json
    table = markdown(runs)
    lines = [line for line in table.splitlines() if line.startswith("| 0.5") or line.startswith("| 1 ")]
    assert lines[0] == "| 0.5 | 1 | 0.500 | 0.450 | 0.500 |"
    assert lines[1] == "| 1 | 2 | 1.000 +- 0.000 | 1.000 +- 0.141 | 1.100 +- 0.141 |"
    assert not any(line.startswith("| 2 ") for line in table.splitlines()) and "vmi" not in table.lower()


def test_named_settings_sort_by_number_then_model_order(tmp_path):
    runs = str(tmp_path)
    for name in ("infomax_infomax-d2_s0", "infomax_vae-d10_s0", "infomax_vae-d2_s0", "infomax_betavae-d2_s0"):
        write(runs, name, {"iwae_nll": 250.0, "mi_critic": 3.0, "kl": 15.0, "active_units": 20})
    write(runs, "vimae_vimaeL_s0", {"recon_l2": 10.0})
    write(runs, "vimae_vae_s0", {"recon_l2": 12.0})
    table = markdown(runs)
    rows = [line.split(" | ")[0][2:] for line in table.splitlines() if line.startswith("| ") and " n |" not in line]
    assert rows == ["vae-d2", "betavae-d2", "infomax-d2", "vae-d10", "vae", "vimaeL"]
    assert "| vimaeL | 1 | 10.000 | n/a |" in table
    # robustness and generation: no run has any of their metrics, so those tables are left out
    assert "probe_drop" not in table and "fd_classifier" not in table
    write(runs, "vimae_vimaeN_s0", {"recon_l2": 9.0, "fd_classifier": 3.5})
    table = markdown(runs)
    assert "| vimaeN | 1 | 3.500 | n/a | n/a |" in table and "| vae | 1 | n/a | n/a | n/a |" not in table


def test_robustness_table_averages_the_per_seed_accuracy_lost(tmp_path):
    runs = str(tmp_path)
    corrupted = ("gaussian_0.2", "gaussian_0.4", "mask_0.2", "mask_0.5")
    write(runs, "vimae_vimaeL_s0", {"probe_accuracy": 0.8, **{f"probe_accuracy_{c}": 0.7 for c in corrupted}})
    write(runs, "vimae_vimaeL_s1", {"probe_accuracy": 0.6, **{f"probe_accuracy_{c}": 0.4 for c in corrupted},
                                    "probe_accuracy_mask_0.5": None})
    table = markdown(runs).split("### VIMAE robustness")[1]
    assert "| vimaeL | 2 | 0.150 +- 0.071 | 0.150 +- 0.071 | 0.150 +- 0.071 | 0.100 |" in table


def test_curve_figures_draw_one_line_per_run_from_training_logs(tmp_path):
    from mi_vae.evaluation.results import curve_figures

    runs = tmp_path / "runs"
    for name, mi in (("pixelcnn_elbo_s0", 0.5), ("pixelcnn_ae_s0", 4.0)):
        (runs / name).mkdir(parents=True)
        rows = [{"step": s, "split": "train", "mi_batch": mi * s / 300, "kl": 1.0} for s in (100, 200, 300)]
        (runs / name / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    written = curve_figures(str(runs), str(tmp_path / "figs"))
    assert [os.path.basename(p) for p in written] == ["pixelcnn_mi_over_training.png"]
    assert os.path.getsize(written[0]) > 5000


def test_results_md_rows_are_those_the_committed_runs_generate():
    """Every table row the committed run snapshots produce appears verbatim in RESULTS.md (traceability)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "RESULTS.md")) as f:
        lines = set(f.read().splitlines())
    # snapshot -> fewest table lines (headers and rows) it must generate; the text snapshot is one two-setting table
    snapshots = {"runs": 6, "runs_1epoch_cpu": 6, "runs_vimae_cpu": 6, "runs_vimae_wae_cpu": 6,
                 "runs_infomax_cpu": 6, "runs_maetextpaper_cpu": 3}
    for snapshot, fewest in snapshots.items():
        rows = [line for line in markdown(os.path.join(root, "docs", "results", snapshot)).splitlines()
                if line.startswith("| ") and not line.startswith("|---")]
        assert len(rows) >= fewest, snapshot
        assert [row for row in rows if row not in lines] == [], snapshot


def write_run(runs, name, config, metrics):
    write(runs, name, metrics)
    with open(os.path.join(runs, name, "config.json"), "w") as f:
        json.dump(config, f)


def test_compare_groups_any_runs_by_the_config_keys_that_differ(tmp_path, capsys):
    from mi_vae.evaluation.results import main

    runs = str(tmp_path)
    base = {"method": {"name": "vae", "beta": 1.0}, "learning_rate": 1e-3, "data": {"sha256": "x"}}
    for seed, elbo in ((0, -100.0), (1, -102.0)):
        write_run(runs, f"mine_a_{seed}", {**base, "seed": seed, "data": {"sha256": str(seed)}}, {"elbo": elbo})
    write_run(runs, "other", {**base, "method": {"name": "vae", "beta": 4.0}, "seed": 0}, {"elbo": -120.0, "kl": 3.0})
    assert main([runs]) == 0
    out = capsys.readouterr().out
    assert "| method.beta | n | runs | `elbo` | `kl` |" in out  # seed and the data description do not split groups
    assert "| 1.0 | 2 | mine_a_0 mine_a_1 | -101.000 +- 1.414 | n/a |" in out
    assert "| 4.0 | 1 | other | -120.000 | 3.000 |" in out
    assert main([runs, "--compare", "--metrics", "kl"]) == 0
    assert "| 4.0 | 1 | other | 3.000 |" in capsys.readouterr().out


def test_results_cli_says_why_it_prints_nothing(tmp_path, capsys):
    from mi_vae.evaluation.results import main

    assert main([str(tmp_path)]) == 1
    assert "no finished runs" in capsys.readouterr().err
    assert main([str(tmp_path / "missing")]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_a_run_no_named_table_groups_is_shown_under_other_runs(tmp_path, capsys):
    """A name whose experiment part is not a table's (here an underscore inside the setting) is not dropped."""
    from mi_vae.evaluation.results import main

    write_run(str(tmp_path), "vimae_normal-wae_l2-unitkernel_s0", {"seed": 0}, {"recon_l2": 60.0})
    assert main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "### Other runs" in out and "vimae_normal-wae_l2-unitkernel_s0" in out


def test_runs_evaluated_before_the_validated_estimators_stay_out_of_their_table(tmp_path):
    """The old capped mi_aggregate (no ceiling recorded) shows in the first InfoMax table, never under the title
    of the validated estimators; a run that records the ceiling shows in both."""
    runs = str(tmp_path)
    old = {"iwae_nll": 250.0, "mi_critic": 4.0, "kl": 10.0, "active_units": 5, "mi_aggregate": 6.8}
    write(runs, "infomax_vae-d2_s0", old)
    write(runs, "infomax_vae-d4_s0", {**old, "mi_aggregate": 9.5, "mi_aggregate_ceiling": 11.0,
                                      "mi_aggregate_stderr": 0.04, "active_units_sampled": 7})
    first, validated = markdown(runs).split("### InfoMax-VAE tables II-III by the validated")
    assert "| vae-d2 | 1 |" in first and "| vae-d4 | 1 |" in first
    assert "| vae-d2 |" not in validated and "| vae-d4 | 1 | 9.500 | 0.040 | 4.000 | n/a | 5.000 | 7.000 |" in validated
