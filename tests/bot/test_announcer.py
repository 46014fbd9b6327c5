"""The announcer's pacer (on a manual clock: no real waiting) and how pause reasons are kept and shown."""

from __future__ import annotations

import asyncio
import bisect
import itertools
import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.clock import ManualClock
from bot.discord.announcer import Pacer, describe_pause
from bot.discord.i18n import pause_reason
from bot.models import Subscription


async def test_pacer_keeps_every_rolling_second_under_budget() -> None:
    clock = ManualClock(autoadvance=True)  # each wait jumps the clock to its deadline: no real waiting
    pacer = Pacer(20, min_gap=0.0, clock=clock)
    released: list[float] = []

    async def sender(count: int) -> None:
        for _ in range(count):
            released.append(await pacer.wait())

    await asyncio.gather(*(sender(9) for _ in range(5)))  # 45 requests from 5 concurrent tasks
    released.sort()
    assert len(released) == 45
    for i, start in enumerate(released):
        in_window = bisect.bisect_left(released, start + 1.0) - i
        assert in_window <= 20, (i, in_window)
    # 20 at once, 20 a second later, 5 a second after that: exactly as fast as the budget allows.
    assert released[19] == released[0] and released[20] == released[0] + 1.0
    assert released[-1] == released[0] + 2.0


async def test_pacer_keeps_its_gap_between_consecutive_requests() -> None:
    clock = ManualClock(autoadvance=True)
    pacer = Pacer(48, min_gap=0.014, clock=clock)
    released = [await pacer.wait() for _ in range(5)]
    gaps = [later - earlier for earlier, later in itertools.pairwise(released)]
    assert all(abs(gap - 0.014) < 1e-9 for gap in gaps), gaps


def paused(reason: str, at: float) -> Subscription:
    return Subscription(1, 2, 3, "text", (), (), None, at - 60, reason, at, None)


def test_pause_reasons_read_in_the_readers_language_and_time_zone() -> None:
    at = datetime(2026, 11, 28, 10, 0, tzinfo=UTC).timestamp()
    tokyo = ZoneInfo("Asia/Tokyo")
    missing = paused(pause_reason("pause.missing", names=["Send Messages", "Embed Links"]), at)
    stored = json.loads(missing.paused_reason or "")  # the store keeps the key and its values, no prose
    assert stored == {"key": "pause.missing", "values": {"names": ["Send Messages", "Embed Links"]}}
    assert describe_pause(missing, tokyo, "en-US") == "missing Send Messages, Embed Links since 2026-11-28 19:00 (JST)"
    in_japanese = "権限が足りません：メッセージを送信、埋め込みリンク（2026年11月28日 19:00 から）"
    assert describe_pause(missing, tokyo, "ja") == in_japanese
    refused = paused(pause_reason("pause.refused", text="A tag is required (forum)", status=400), at)
    assert describe_pause(refused, tokyo, "ja").startswith("Discord に拒否されました：A tag is required (forum)（400）")
    gone = paused(pause_reason("pause.channel_gone"), at)
    assert describe_pause(gone, tokyo, "ja").startswith("チャンネルが見つかりません（削除")
    # What versions before keys wrote, English text, is still read back and translated.
    english = paused("Discord refused: Missing Access (403)", at)
    assert describe_pause(english, tokyo, "ja").startswith("Discord に拒否されました：Missing Access（403）（")
    old_missing = paused("missing Send Messages", at)
    assert describe_pause(old_missing, tokyo, "ja").startswith("権限が足りません：メッセージを送信（")
    older = paused("something an older version wrote", at)
    assert describe_pause(older, tokyo, "ja").startswith("something an older version wrote（")
