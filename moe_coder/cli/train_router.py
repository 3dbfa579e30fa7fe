"""``moe-coder train-router``: fit the router on labelled prompts and write its artifacts."""
from __future__ import annotations

import argparse
from pathlib import Path

from moe_coder.cli._common import FRACTION
from moe_coder.validation import check_output_dir, number_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train-router", help="train the (language, task) router on labelled prompts",
        description="Fit the router on train.jsonl[.gz] and calibrate it on validation.jsonl[.gz] (a directory), "
        "or on a by-source hold-out of a single JSONL file. A mixture's abstain threshold is then chosen "
        "with `moe-coder calibrate`.",
    )
    p.add_argument("--data", required=True, metavar="DIR_OR_JSONL", help="directory with train/validation files, or one JSONL file")
    p.add_argument("--out", required=True, metavar="DIR", help="where to write the router artifacts (a mixture's router folder)")
    p.add_argument("--C", type=number_argument(low=0, low_open=True), default=None, help="inverse regularisation strength of the heads")
    p.add_argument("--no-cascade", action="store_true", help="always encode prompts (no fast n-gram/cue heads)")
    p.add_argument("--cascade-tolerance", type=FRACTION, default=None, metavar="FRACTION",
                   help="held-out accuracy the cascade may cost, as a fraction of prompts (default 0.002)")
    p.add_argument("--lexicon", metavar="TSV_GZ", default=None,
                   help="library lexicon to learn from (default: lexicon.tsv.gz inside --data when it is a directory)")
    p.add_argument("--no-lexicon", action="store_true", help="train without a library lexicon")
    p.add_argument("--packages", metavar="TSV_GZ", default=None,
                   help="package-registry names looked up with the lexicon (router_training/packages.py builds them; "
                   "default: packages.tsv.gz inside --data when it is a directory)")
    p.add_argument("--no-packages", action="store_true", help="use the lexicon without package-registry names")
    p.add_argument("--code-corpus", metavar="JSONL_GZ", default=None,
                   help="windows of code the code-language identifier learns from "
                   "(default: code.jsonl.gz inside --data when it is a directory)")
    p.add_argument("--no-code-corpus", action="store_true", help="train without a code-language identifier")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from moe_coder.cli._common import print_json
    from moe_coder.routing.code_language import CodeCorpus
    from moe_coder.routing.dataset import find_split, load_labelled, split_by_source
    from moe_coder.routing.lexicon import Lexicon, PackageNames
    from moe_coder.routing.router import PromptRouter

    check_output_dir(args.out, "--out")
    data = Path(args.data)
    if data.is_dir():
        train_path, val_path = find_split(data, "train"), find_split(data, "validation")
        if train_path is None:
            raise FileNotFoundError(f"no train.jsonl or train.jsonl.gz in {data}")
        train = load_labelled(train_path)
        validation = load_labelled(val_path) if val_path else None
        if validation is None:
            train, validation = split_by_source(train)
    else:
        train, validation = split_by_source(load_labelled(data))
    params: dict = {"cascade": not args.no_cascade}
    if args.C is not None:
        params["C"] = args.C
    if args.cascade_tolerance is not None:
        params["cascade_tolerance"] = args.cascade_tolerance
    lexicon_path = _companion(data, args.lexicon, args.no_lexicon, "lexicon.tsv.gz", "lexicon")
    lexicon = Lexicon.load(lexicon_path) if lexicon_path is not None else None
    packages_path = _companion(data, args.packages, args.no_packages or lexicon is None, "packages.tsv.gz", "package names")
    if lexicon is not None and packages_path is not None:
        lexicon = lexicon.with_packages(PackageNames.load(packages_path))
    corpus_path = _companion(data, args.code_corpus, args.no_code_corpus, "code.jsonl.gz", "code corpus")
    corpus = CodeCorpus.load(corpus_path) if corpus_path is not None else None
    router = PromptRouter(**params)
    print(f"training on {len(train)} prompts, calibrating on {len(validation)}"
          + (f"; lexicon {lexicon_path} ({len(lexicon)} identifiers)" if lexicon is not None else "; no lexicon")
          + (f"; package names {packages_path} ({len(lexicon.packages)})" if lexicon is not None and lexicon.packages else "")
          + (f"; code corpus {corpus_path} ({len(corpus)} windows)" if corpus is not None else "; no code corpus"), flush=True)
    router.fit(train.prompts, train.y, lexicon=lexicon, code_corpus=corpus, groups=train.sources)
    router.calibrate(validation.prompts, validation.y)
    router.save_pretrained(args.out)
    probas, _, encoded = router.predict_proba_with_cues(validation.prompts)
    summary = {
        "out": str(args.out), "train": len(train), "validation": len(validation),
        "validation_score": router.joint_accuracy(router.labels(probas), validation.y),
        "temperatures": router.full_heads_.temperatures,
        "fast_threshold": router.fast_threshold_ if router.uses_cascade else None,
        "validation_encoded_share": float(encoded.mean()) if len(encoded) else 0.0,
        "lexicon": str(lexicon_path) if lexicon is not None else None,
        "packages": str(packages_path) if lexicon is not None and lexicon.packages is not None else None,
        "code_corpus": str(corpus_path) if corpus is not None else None,
    }
    if args.json:
        print_json(summary)
    else:
        print(f"wrote {args.out}: validation language+task accuracy {summary['validation_score']:.3f}, "
              f"{summary['validation_encoded_share']:.1%} of validation prompts needed the sentence encoder")
    return 0


def _companion(data: Path, given: str | None, disabled: bool, default_name: str, what: str) -> Path | None:
    """The file named by ``--lexicon`` / ``--packages`` / ``--code-corpus`` (an error when it is missing), else the one
    inside the ``--data`` directory if there is one; ``None`` when disabled or absent."""
    if disabled:
        return None
    if given:
        path = Path(given)
        if not path.is_file():
            raise FileNotFoundError(f"{what} not found: {path}")
        return path
    if data.is_dir() and (data / default_name).is_file():
        return data / default_name
    return None
