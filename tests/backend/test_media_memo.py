"""media.render gives a file made lately for the same inputs again (its outputs are pure
functions of them), keeps at most MADE_BYTES of them, and draws anew for other inputs."""

from __future__ import annotations

import pytest

from flora_backend import media


@pytest.fixture(autouse=True)
def empty_memo(monkeypatch):
    monkeypatch.setattr(media, "_made", type(media._made)())
    monkeypatch.setattr(media, "_made_size", 0)


def test_the_same_inputs_give_the_same_file_without_drawing_it_again():
    first = media.render("image", "m", "a fox", {"aspect_ratio": "square_1_1"})
    again = media.render("image", "m", "a fox", {"aspect_ratio": "square_1_1"})
    assert again is first
    other = media.render("image", "m", "a fox", {"aspect_ratio": "landscape_4_3"})
    assert other != first
    assert media.render("image", "m", "a fox", {"seed": 1}) != media.render(
        "image", "m", "a fox", {"seed": 1.5}
    )


def test_parameters_json_cannot_spell_are_drawn_every_time():
    params = {"x": {1, 2}}
    assert media.render("audio", "m", "a tune", params) == media.render(
        "audio", "m", "a tune", params
    )
    assert media._made_size == 0


def test_what_is_kept_is_bounded(monkeypatch):
    one = len(media.render("image", "m", "probe", {}))
    monkeypatch.setattr(media, "MADE_BYTES", one * 10)  # room for about ten
    for i in range(20):
        media.render("image", "m", f"fox {i}", {})
    assert media._made_size <= media.MADE_BYTES
    assert 0 < len(media._made) < 20
    assert media._made_size == sum(len(v) for v in media._made.values())
