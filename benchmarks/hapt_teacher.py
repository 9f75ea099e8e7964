"""HAPT teacher benchmark: train the acc + gyro teacher for several seeds and report test accuracy.

The teacher is mmdistill's main-job teacher: one `SensorEncoder` per modality, `CrossAttentionFusion`,
SupCon + cross-entropy, `ClassBalancedBatchSampler` batches, trained with `Trainer`. Every choice is made
on the validation subjects: the epoch (best validation accuracy of the classifier head, on the EMA
weights). The nine test subjects are used once, at the end, for the reported figures:

- classifier head accuracy on the test subjects;
- k-NN accuracy (k=5, cosine) of test embeddings against the training embeddings;
- few-shot accuracy (5-way 1-shot and 5-way 5-shot, 15 queries, 400 episodes) on test embeddings.

    python benchmarks/hapt_teacher.py --seeds 0 1 2 --out runs/hapt_teacher

writes `results.json` and `results.md` in `--out` and prints the table.

    python benchmarks/hapt_teacher.py --cv --out runs/hapt_teacher_cv

compares the recipe with and without the encoders' whole-window summary token by subject-wise cross-validation
inside the 21 training + validation subjects (three folds of seven people; the test subjects are never loaded): each
fold trains on the other 14 and reports the held-out accuracy of the classifier head after the last epoch (no epoch
selection, so no optimism) and its sitting <-> standing errors. This is how the summary token was chosen: the three
validation subjects alone make few such errors and cannot tell the two recipes apart. Beside the teacher it fits a classical
baseline a HAR practitioner would try first: per-window features (each channel's mean, log standard deviation and
log energy in five frequency bands, and the change of the accelerometer's mean between the window's halves) with a
scikit-learn logistic regression, its `C` chosen on the validation subjects.
"""
import argparse, json, os, platform, time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from mmdistill.recipes import DemoConfig, fit_hapt_teacher
from mmdistill.datasets import HAPT_TEST_SUBJECTS, load_hapt
from mmdistill.evaluate import classification_metrics, fewshot_evaluate, knn_evaluate, predict, save_json


BANDS = ((1, 3), (3, 6), (6, 12), (12, 24), (24, 65))  # rfft bins of a 128-step window at 50 Hz: 0.4-1.2 Hz ... 9.4-25 Hz


def window_features(ds) -> np.ndarray:
    "Classical HAR features of each window of `ds`: mean, log std, log band energies per channel, acc mean drift."
    a, g = ds.signals["acc"].numpy().astype(np.float64), ds.signals["gyro"].numpy().astype(np.float64)
    f = [a.mean(1), g.mean(1), np.log(a.std(1) + 1e-4), np.log(g.std(1) + 1e-4)]
    for x in (a, g):
        p = np.abs(np.fft.rfft(x - x.mean(1, keepdims=True), axis=1)) ** 2
        f += [np.log(p[:, lo:hi].sum(1) + 1e-6) for lo, hi in BANDS if lo < p.shape[1]]
    half = a.shape[1] // 2
    f.append(a[:, :half].mean(1) - a[:, half:].mean(1))
    return np.concatenate(f, 1)


def feature_baseline(data) -> dict:
    "Logistic regression on `window_features`, C chosen on the validation subjects; test accuracy of the chosen C."
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    X = {s: window_features(d) for s, d in data.items()}
    t0, fits = time.time(), {}
    for C in (0.1, 1.0, 10.0):
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000)).fit(X["train"], data["train"].labels)
        fits[C] = (clf.score(X["val"], data["val"].labels), clf)
    C = max(fits, key=lambda c: fits[c][0])
    pred = fits[C][1].predict(X["test"])
    head = classification_metrics(data["test"].labels, pred, num_classes=12, class_names=list(data["test"].classes))
    return {"C": C, "val_accuracy": fits[C][0], "test_accuracy": head["accuracy"], "test_f1_macro": head["f1_macro"],
            "features": X["train"].shape[1], "confusion_matrix": head["confusion_matrix"], "seconds": round(time.time() - t0, 1)}


def run_seed(seed, out, epochs, data):
    cfg = DemoConfig(seed=seed, teacher_epochs=epochs)
    t0 = time.time()
    trainer = fit_hapt_teacher(data, out / f"seed{seed}", cfg)
    history = trainer.history
    seconds = time.time() - t0
    model = trainer.load_best().eval()
    best = max(history, key=lambda h: h["val_accuracy"])
    tr, te = predict(model, data["train"], outputs="embedding"), predict(model, data["test"])
    head = classification_metrics(te["labels"], te["logits"].argmax(1), num_classes=12, class_names=list(data["test"].classes))
    knn = knn_evaluate(tr["embedding"], tr["labels"], te["embedding"], te["labels"], k=5, metric="cosine", num_classes=12)
    fs1 = fewshot_evaluate(te["embedding"], te["labels"], n_way=5, k_shot=1, n_query=15, episodes=400, seed=seed)
    fs5 = fewshot_evaluate(te["embedding"], te["labels"], n_way=5, k_shot=5, n_query=15, episodes=400, seed=seed)
    return {"seed": seed, "best_epoch": best["epoch"], "val_accuracy": best["val_accuracy"],
            "test_accuracy": head["accuracy"], "test_f1_macro": head["f1_macro"], "test_knn_accuracy": knn["accuracy"],
            "fewshot_5way1shot": {k: fs1[k] for k in ("mean", "std", "sem", "ci95")},
            "fewshot_5way5shot": {k: fs5[k] for k in ("mean", "std", "sem", "ci95")},
            "confusion_matrix": head["confusion_matrix"], "train_seconds": round(seconds, 1), "epochs_run": len(history)}


def cross_validate(out, folds=3, seed=0, epochs=DemoConfig.teacher_epochs) -> dict:
    "Held-out accuracy of the recipe with and without the summary token, on subject folds of train + val (never test)."
    trainval = load_hapt("trainval")
    subjects = sorted(set(trainval.subjects.tolist()) - set(HAPT_TEST_SUBJECTS))
    rows = []
    for fold in range(folds):
        held = subjects[fold::folds]
        rest = [s for s in subjects if s not in held]
        data = {"train": load_hapt("trainval", subjects=rest, stats=trainval.stats),
                "val": load_hapt("trainval", subjects=held, stats=trainval.stats)}
        for summary in (False, True):
            cfg = replace(DemoConfig(seed=seed, teacher_epochs=epochs), teacher_summary=summary)
            t0 = time.time()
            trainer = fit_hapt_teacher(data, out / f"cv_fold{fold}_summary{int(summary)}", cfg)
            last = trainer.history[-1]
            model = trainer.eval_model.eval()   # the weights after the last epoch (EMA): nothing selected on the fold
            pred = predict(model, data["val"], outputs="logits")
            y, p = np.asarray(pred["labels"]), np.asarray(pred["logits"]).argmax(1)
            rows.append({"fold": fold, "held_out": held, "summary": summary, "accuracy": float((p == y).mean()),
                         "accuracy_last5_mean": float(np.mean([h["val_accuracy"] for h in trainer.history[-5:]])),
                         "sit_stand_errors": int(((y == 3) & (p == 4)).sum() + ((y == 4) & (p == 3)).sum()),
                         "windows": int(len(y)), "seconds": round(time.time() - t0, 1)})
            assert abs(rows[-1]["accuracy"] - last["val_accuracy"]) < 1e-6, (rows[-1], last)
            print(json.dumps(rows[-1]), flush=True)
    summ = {s: {k: float(np.mean([r[k] for r in rows if r["summary"] == s])) for k in ("accuracy", "accuracy_last5_mean", "sit_stand_errors")}
            for s in (False, True)}
    return {"rows": rows, "mean": {str(k): v for k, v in summ.items()}, "folds": folds, "seed": seed}


def main_cv(a):
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    cv = cross_validate(out, seed=a.seeds[0], epochs=a.epochs)
    cv.update(date=time.strftime("%Y-%m-%d"), threads=a.threads, command="python benchmarks/hapt_teacher.py --cv"
              + (f" --threads {a.threads}" if a.threads != min(2, os.cpu_count() or 1) else ""))
    save_json(cv, out / "cv.json")
    lines = ["Subject-wise 3-fold cross-validation inside the train + val subjects (held-out accuracy after the last epoch)", "",
             "| fold | held-out subjects | without summary token | with summary token | sit↔stand errors without / with |", "|---|---|---|---|---|"]
    for f in range(cv["folds"]):
        r0, r1 = (next(r for r in cv["rows"] if r["fold"] == f and r["summary"] == s) for s in (False, True))
        lines.append(f"| {f} | {' '.join(map(str, r0['held_out']))} | {100 * r0['accuracy']:.1f}% | {100 * r1['accuracy']:.1f}% | "
                     f"{r0['sit_stand_errors']} / {r1['sit_stand_errors']} |")
    m0, m1 = cv["mean"]["False"], cv["mean"]["True"]
    lines.append(f"| mean | | {100 * m0['accuracy']:.1f}% | {100 * m1['accuracy']:.1f}% | {m0['sit_stand_errors']:.0f} / {m1['sit_stand_errors']:.0f} |")
    lines += ["", f"Command: `{cv['command']}`"]
    (out / "cv.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", default="runs/hapt_teacher")
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--epochs", type=int, default=DemoConfig.teacher_epochs, help="override the recipe's epochs (for a quick check)")
    ap.add_argument("--cv", action="store_true", help="choose the summary token by subject cross-validation inside train + val")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.cv: return main_cv(a)
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    data = {s: load_hapt(s) for s in ("train", "val", "test")}
    baseline = feature_baseline(data)
    print(json.dumps({k: v for k, v in baseline.items() if k != "confusion_matrix"}), flush=True)
    runs = []
    for seed in a.seeds:
        runs.append(run_seed(seed, out, a.epochs, data))
        print(json.dumps({k: v for k, v in runs[-1].items() if k != "confusion_matrix"}), flush=True)
    agg = lambda key, sub=None: (float(np.mean([r[key] if sub is None else r[key][sub] for r in runs])),
                                 float(np.std([r[key] if sub is None else r[key][sub] for r in runs])))
    summary = {"test_accuracy": agg("test_accuracy"), "test_knn_accuracy": agg("test_knn_accuracy"),
               "val_accuracy": agg("val_accuracy"), "fewshot_5way1shot": agg("fewshot_5way1shot", "mean"),
               "fewshot_5way5shot": agg("fewshot_5way5shot", "mean"), "train_seconds": agg("train_seconds")}
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {a.threads} threads"
    result = {"recipe": {k: v for k, v in asdict(DemoConfig(teacher_epochs=a.epochs)).items() if not k.startswith("student")}, "seeds": a.seeds, "runs": runs, "summary": summary, "feature_baseline": baseline, "machine": machine,
              "date": time.strftime("%Y-%m-%d"), "command": f"python benchmarks/hapt_teacher.py --seeds {' '.join(map(str, a.seeds))}"
               + (f" --epochs {a.epochs}" if a.epochs != DemoConfig.teacher_epochs else "")
               + (f" --threads {a.threads}" if a.threads != ap.get_default("threads") else "")}
    save_json(result, out / "results.json")
    pct = lambda m_s: f"{100 * m_s[0]:.1f} ± {100 * m_s[1]:.1f}%"
    lines = [f"HAPT teacher, {len(runs)} seeds ({result['date']}, {machine})", "",
             "| seed | best epoch | val acc | test acc (head) | test acc (k-NN) | 5-way 1-shot | 5-way 5-shot | train s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in runs:
        lines.append(f"| {r['seed']} | {r['best_epoch']} | {100*r['val_accuracy']:.1f}% | {100*r['test_accuracy']:.1f}% | "
                     f"{100*r['test_knn_accuracy']:.1f}% | {100*r['fewshot_5way1shot']['mean']:.1f} ± {100*r['fewshot_5way1shot']['ci95']:.1f}% | "
                     f"{100*r['fewshot_5way5shot']['mean']:.1f} ± {100*r['fewshot_5way5shot']['ci95']:.1f}% | {r['train_seconds']:.0f} |")
    lines.append(f"| mean ± std | | {pct(summary['val_accuracy'])} | {pct(summary['test_accuracy'])} | {pct(summary['test_knn_accuracy'])} | "
                 f"{pct(summary['fewshot_5way1shot'])} | {pct(summary['fewshot_5way5shot'])} | {summary['train_seconds'][0]:.0f} |")
    lines += ["", f"Classical baseline: {baseline['features']} hand-made features per window (mean, log std, log energy in "
              f"5 frequency bands per channel, acc mean drift) + logistic regression, C={baseline['C']:g} chosen on val: "
              f"val {100 * baseline['val_accuracy']:.1f}%, **test {100 * baseline['test_accuracy']:.1f}%** "
              f"(macro F1 {100 * baseline['test_f1_macro']:.1f}%), {baseline['seconds']:.0f} s.",
              "", "Few-shot cells of a seed: mean ± 95% interval over 400 episodes (15 queries per class).",
              f"Command: `{result['command']}`"]
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
