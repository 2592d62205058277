"""The capacity line counts slots: an image task holds ``n`` (docs/kling-api.md#concurrency).

The gate itself (asyncio, no HTTP); operators against the emulator are in
tests/operators/test_image_operators.py.
"""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_kling.api.kinds import get_kind
from airflow_provider_kling.execution.capacity import CapacityGate


def test_an_image_turn_behind_a_closed_gate_waits_for_n_freed_slots() -> None:
    async def scenario() -> list[bool]:
        gate = CapacityGate(probe_min_seconds=30)  # no probe during this test
        gate.refused()
        turn = asyncio.create_task(gate.turn(timeout=5, slots=3))
        seen = []
        for _ in range(3):
            await asyncio.sleep(0.01)
            seen.append(turn.done())
            gate.slot_freed()
        await asyncio.sleep(0.01)
        seen.append(turn.done())
        assert turn.result() is False  # a freed-slot turn, not a probe
        return seen

    assert asyncio.run(scenario()) == [False, False, False, True]


def test_a_big_task_keeps_its_place_small_ones_behind_it_wait() -> None:
    async def scenario() -> list[list[bool]]:
        gate = CapacityGate(probe_min_seconds=30)
        gate.refused()
        big = asyncio.create_task(gate.turn(timeout=5, slots=4))
        await asyncio.sleep(0.01)
        small = asyncio.create_task(gate.turn(timeout=5))
        await asyncio.sleep(0.01)
        gate.slot_freed(2)  # e.g. a video and one more
        await asyncio.sleep(0.01)
        seen = [[big.done(), small.done()]]
        gate.slot_freed(3)  # an image task with 3 images ended
        await asyncio.sleep(0.01)
        seen.append([big.done(), small.done()])
        return seen

    held, both = asyncio.run(scenario())
    assert held == [False, False]  # 2 free: not enough for the head, and the small one waits its turn
    assert both == [True, True]  # 5 free: 4 for the head, 1 for the next


def test_a_big_task_that_gives_up_passes_the_freed_slots_on() -> None:
    async def scenario() -> tuple[bool, bool]:
        gate = CapacityGate(probe_min_seconds=30)
        gate.refused()
        big = asyncio.create_task(gate.turn(timeout=0.1, slots=9))
        await asyncio.sleep(0.01)
        small = asyncio.create_task(gate.turn(timeout=5))
        await asyncio.sleep(0.01)
        gate.slot_freed()
        await asyncio.sleep(0.01)
        waiting = small.done()
        with pytest.raises(asyncio.TimeoutError):
            await big
        await asyncio.sleep(0.01)
        return waiting, small.done()

    assert asyncio.run(scenario()) == (False, True)


def test_a_granted_big_turn_that_is_not_used_gives_all_its_slots_back() -> None:
    async def scenario() -> list[bool]:
        gate = CapacityGate(probe_min_seconds=30)
        gate.refused()
        big = asyncio.create_task(gate.turn(timeout=5, slots=2))
        await asyncio.sleep(0.01)
        gate.slot_freed(2)
        await big
        smalls = [asyncio.create_task(gate.turn(timeout=5)) for _ in range(3)]
        await asyncio.sleep(0.01)
        gate.give_back(probe=False, slots=2)  # its submit failed otherwise: 2 slots go on
        await asyncio.sleep(0.01)
        return [t.done() for t in smalls]

    assert asyncio.run(scenario()) == [True, True, False]


def test_a_probe_turn_goes_whatever_the_slots_kling_decides() -> None:
    async def scenario() -> bool:
        gate = CapacityGate(probe_min_seconds=0.05, probe_max_seconds=0.1)
        gate.refused()
        return await gate.turn(timeout=2, slots=9)

    assert asyncio.run(scenario()) is True


def test_video_and_image_packs_wait_in_separate_lines() -> None:
    async def scenario() -> tuple[bool, bool, bool]:
        video = CapacityGate.for_kind("kling_default", get_kind("text2video"))
        image = CapacityGate.for_kind("kling_default", get_kind("image-generation"))
        omni = CapacityGate.for_kind("kling_default", get_kind("omni-image"))
        image.refused()  # the image packs are full ...
        turn = await video.turn(timeout=1)  # ... a video still goes at once
        return video is CapacityGate.shared("kling_default") and image is omni, image is not video, turn

    assert asyncio.run(scenario()) == (True, True, False)


@pytest.mark.parametrize(
    ("kind", "payload", "slots"),
    [
        ("text2video", {"prompt": "p"}, 1),
        ("effects", {"effect_scene": "hug_pro"}, 1),
        ("image-generation", {"prompt": "p"}, 1),
        ("image-generation", {"prompt": "p", "n": 4}, 4),
        ("omni-image", {"prompt": "p", "n": 9}, 9),
        ("omni-image", {"prompt": "p", "result_type": "series"}, 4),  # Kling's default amount
        ("omni-image", {"prompt": "p", "result_type": "series", "series_amount": 6}, 6),
        ("omni-image", {"prompt": "p", "result_type": "series", "series_amount": "auto"}, 2),
    ],
)
def test_slots_a_task_holds(kind: str, payload: dict[str, object], slots: int) -> None:
    assert get_kind(kind).slots(payload) == slots


def test_slots_a_finished_task_frees() -> None:
    image, video = get_kind("image-generation"), get_kind("image2video")
    assert [image.freed_slots(n) for n in (0, 1, 3)] == [1, 1, 3]
    assert video.freed_slots(0) == 1
