"""moe_coder/languages.py is the one home of the twelve languages: every step reads it."""
from collections import Counter

from moe_coder.benchmarks import HUMANEVAL_X_LANGUAGES
from moe_coder.evaluation.executors import EXECUTORS
from moe_coder.evaluation.extract import extract_code
from moe_coder.languages import BY_ID, LANGUAGES, OTHER_EXTENSIONS, OTHER_FENCE_TAGS
from moe_coder.routing.cues import extract_cues
from moe_coder.routing.labels import UNKNOWN
from moe_coder.routing.labels import LANGUAGES as LABELS


def test_the_router_labels_are_the_twelve_languages_and_unknown():
    assert len(LANGUAGES) == 12
    assert LABELS == (*BY_ID, UNKNOWN)


def test_no_fence_tag_or_extension_names_two_languages():
    tags = Counter(t for language in LANGUAGES for t in language.all_fence_tags)
    extensions = Counter(e for language in LANGUAGES for e in language.extensions)
    assert [t for t, n in tags.items() if n > 1] == [] and not set(tags) & set(OTHER_FENCE_TAGS)
    assert [e for e, n in extensions.items() if n > 1] == [] and not set(extensions) & set(OTHER_EXTENSIONS)


def test_every_fence_tag_and_extension_is_a_cue_for_its_language():
    for language in LANGUAGES:
        for tag in language.all_fence_tags:
            assert f"fence:{language.id}" in extract_cues(f"```{tag}\nx = 1\n```"), tag
        for ext in language.extensions:
            assert f"file:{language.id}" in extract_cues(f"main.{ext}:\nx = 1"), ext


def test_the_extractor_takes_the_block_fenced_with_any_tag_of_the_target_language():
    for language in LANGUAGES:
        for tag in language.all_fence_tags:
            answer = f"```text\nnot this\n```\n```{tag}\nthis\n```"
            assert extract_code(answer, language.id) == "this", (language.id, tag)


def test_executors_and_humaneval_x_cover_the_languages_with_a_toolchain():
    runnable = {language.id for language in LANGUAGES if language.toolchain}
    assert runnable == set(EXECUTORS) == set(HUMANEVAL_X_LANGUAGES.values())


def test_executors_run_the_tool_languages_names():
    from moe_coder.evaluation.executors import EXECUTORS
    from moe_coder.languages import get_language

    for language, executor in EXECUTORS.items():
        assert executor.tool == get_language(language).toolchain[0]
        if executor.toolchain.available:
            assert executor.tool in executor.toolchain.paths
