"""Grammar evidence (moe_coder/routing/grammar.py): the tree-sitter grammars of the twelve languages,
as the router reads them."""
import numpy as np
import pytest

from moe_coder.routing.grammar import (
    CLEAN_ENOUGH, GRAMMAR_LANGUAGES, GrammarEvidence, _closed, code_errors, code_head, feature_names, parse_code,
)

JS_COMPLETION = """// Return the number of vowels in the string.
// >>> countVowels("hello")
// 2
function countVowels(s){
"""
CPP_COMPLETION = """#include<assert.h>
#include<bits/stdc++.h>
// Sum the even numbers.
// >>> sum_even((std::vector<long>({(long)1, (long)2, (long)4})))
// (6)
long sum_even(std::vector<long> xs) {
"""
BASH_STUB = """#!/bin/bash
# Print the words of a line in reverse order.
# $1 is a string
reverse_words() {
"""
KOTLIN = """fun area(shapes: List<Shape>): Double {
    val total = shapes.sumOf { it.area() }
    return total
}
data class Point(val x: Int, val y: Int)
"""
HASKELL = """area :: [Double] -> Double
area xs = foldr (+) 0 xs
main = print (area [1.0, 2.0])
"""


def test_the_right_grammar_accepts_and_a_lookalike_rejects():
    assert parse_code(JS_COMPLETION, "javascript")[0] == 1.0  # the unclosed body at the end is no error
    assert parse_code(JS_COMPLETION, "go")[0] < CLEAN_ENOUGH
    cpp, c = parse_code(CPP_COMPLETION, "cpp"), parse_code(CPP_COMPLETION, "c")
    assert cpp[0] == 1.0 and c[0] < cpp[0]
    assert cpp[1]  # std:: qualified names are C++'s own nodes
    assert parse_code(BASH_STUB, "bash")[0] >= CLEAN_ENOUGH


@pytest.mark.parametrize("code", [KOTLIN, HASKELL])
def test_code_outside_the_twelve_is_accepted_by_none(code):
    shares = {lang: parse_code(code, lang)[0] for lang in GRAMMAR_LANGUAGES}
    assert max(shares.values()) < CLEAN_ENOUGH, shares
    verdicts = {lang: code_errors(code, lang) for lang in GRAMMAR_LANGUAGES if lang not in ("bash", "sql")}
    assert all(v is not None and v[0] > 0 for v in verdicts.values()), verdicts


def test_code_errors_count_only_the_code_outside_comments():
    # the doc comment parses in both grammars; the one line of code only in JavaScript's
    assert code_errors(JS_COMPLETION, "javascript") == (0, False)
    assert code_errors(JS_COMPLETION, "go")[0] >= 1
    # C's grammar rejects std::vector<long>; C++'s parses it, with a node of its own
    assert code_errors(CPP_COMPLETION, "cpp") == (0, True)
    assert code_errors(CPP_COMPLETION, "c")[0] >= 1
    # Rust's grammar turns an unclosed body into an error: it is closed before parsing
    assert code_errors("/// Sum.\nfn total(v: &[i32]) -> i32 {\n    let mut s = 0;\n", "rust") == (0, True)
    # PHP code with its opening tag
    assert code_errors("<?php\n// Sum.\nfunction total($xs) {\n", "php")[0] == 0
    # too little code outside comments to say anything
    assert code_errors("// a doc comment\n// >>> f(1)\nf(){", "go") is None
    assert code_errors("", "go") is None and code_errors(b"   \n", "go") is None
    with pytest.raises(ValueError, match="no grammar for 'kotlin'"):
        code_errors("fun f() = 1", "kotlin")


def test_closed_appends_the_closers_of_open_brackets_only():
    assert _closed(b"int f(int x) {\n  if (x > (1") == b"int f(int x) {\n  if (x > (1\n))}"
    # brackets in strings, characters and comments do not count
    assert _closed(b'f("{[", \'(\') { // }\n /* ] */') == b'f("{[", \'(\') { // }\n /* ] */\n}'
    assert _closed(b"x = 1;") == b"x = 1;"
    assert _closed(b"} else {") == b"} else {"  # a stray closer: left as it is


def test_code_head_cuts_long_code_at_a_line_end():
    code = "x = 1\n" * 1000
    head = code_head(code)
    assert 0 < len(head) <= 1200 and head.endswith(b"x = 1")
    assert code_head("x = 1") == b"x = 1"


def test_distinctive_nodes_inside_errors_do_not_count():
    assert parse_code("@@@ x := 1 @@@ )))\n", "go") == (0.0, False)  # the := sits inside an ERROR node
    assert parse_code("package main\nfunc f() { x := 1; _ = x }\n", "go") == (1.0, True)


def test_empty_code_and_unknown_language():
    assert parse_code("", "python") == (0.0, False)
    with pytest.raises(ValueError, match="no grammar for 'kotlin'"):
        parse_code("fun f() = 1", "kotlin")
    with pytest.raises(ValueError, match="no grammar"):
        GrammarEvidence(["python", "cobol"])
    with pytest.raises(ValueError, match="candidates"):
        GrammarEvidence(candidates=0)


def test_features_parse_only_the_top_candidates():
    languages = list(GRAMMAR_LANGUAGES) + ["unknown"]
    scores = np.zeros((2, len(languages)))
    scores[0, languages.index("go")] = 0.6
    scores[0, languages.index("javascript")] = 0.3
    scores[0, languages.index("unknown")] = 0.9  # no grammar: never a candidate
    evidence = GrammarEvidence(candidates=2)
    F = evidence.features([JS_COMPLETION, "just some prose, no code at all"], scores, languages)
    names = feature_names()
    assert F.shape == (2, len(names)) == (2, 3 * 12 + 2)
    row = dict(zip(names, F[0]))
    assert row["clean:javascript"] == 1.0 and row["rejected:go"] > 1 - CLEAN_ENOUGH
    parsed = {n.split(":")[1] for n, v in row.items() if n.startswith(("clean:", "rejected:")) and v}
    assert parsed == {"go", "javascript"}
    assert row["best_clean"] == 1.0 and row["none_clean"] == 0.0
    assert not F[1].any()  # no scores for the second text: nothing parsed


def test_features_flag_code_no_candidate_accepts():
    languages = list(GRAMMAR_LANGUAGES)
    scores = np.ones((1, len(languages)))
    row = dict(zip(feature_names(), GrammarEvidence(candidates=12).features([KOTLIN], scores, languages)[0]))
    assert row["none_clean"] == 1.0 and row["best_clean"] < CLEAN_ENOUGH


def test_features_of_a_text_do_not_depend_on_its_batch():
    languages = list(GRAMMAR_LANGUAGES)
    texts = [JS_COMPLETION, CPP_COMPLETION, BASH_STUB, KOTLIN]
    scores = np.random.default_rng(0).random((len(texts), len(languages)))
    evidence = GrammarEvidence()
    together = evidence.features(texts, scores, languages)
    for i, text in enumerate(texts):
        np.testing.assert_array_equal(evidence.features([text], scores[i:i + 1], languages)[0], together[i])


def test_features_refuse_scores_of_the_wrong_shape():
    with pytest.raises(ValueError, match="scores must have shape"):
        GrammarEvidence().features(["x = 1"], np.zeros((1, 3)), list(GRAMMAR_LANGUAGES))


def test_threads_parsing_at_once_get_the_answers_one_thread_gets():
    from concurrent.futures import ThreadPoolExecutor

    from moe_coder.routing.grammar import _code_errors

    jobs = [(f"{code}// {i}\n", lang) for i in range(40) for code in (JS_COMPLETION, CPP_COMPLETION, KOTLIN)
            for lang in ("javascript", "go", "cpp", "c")]
    alone = [code_errors(code, lang) for code, lang in jobs]
    _code_errors.cache_clear()  # parse again, four threads at once
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(lambda job: code_errors(job[0], job[1]), jobs))
    assert together == alone
