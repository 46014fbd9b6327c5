"""The announcer's pacer: never more than the budget in any rolling second, however tasks arrive."""

from __future__ import annotations

import asyncio
import bisect
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.discord.announcer import Pacer, describe_pause
from bot.discord.i18n import pause_reason
from bot.models import Subscription


async def test_pacer_keeps_every_rolling_second_under_budget() -> None:
    pacer = Pacer(20, min_gap=0.0)
    released: list[float] = []

    async def sender(count: int) -> None:
        for _ in range(count):
            await pacer.wait()
            released.append(time.monotonic())

    await asyncio.gather(*(sender(9) for _ in range(5)))  # 45 requests from 5 concurrent tasks
    released.sort()
    assert len(released) == 45
    # These times trail the pacer's own by however long the OS kept the loop from running, so
    # a window of exactly 1 s could catch a 21st release on a loaded machine; 0.95 s still
    # catches a pacer that lets 21 through (they would go out within milliseconds).
    for i, start in enumerate(released):
        in_window = bisect.bisect_left(released, start + 0.95) - i
        assert in_window <= 20, (i, in_window)
    assert released[-1] - released[0] >= 1.9  # 45 at 20 per second take two seconds (less the jitter)


def paused(reason: str, at: float) -> Subscription:
    return Subscription(1, 2, 3, "text", (), (), None, at - 60, reason, at, None)


def test_pause_reasons_read_in_the_readers_language_and_time_zone() -> None:
    at = datetime(2026, 11, 28, 10, 0, tzinfo=UTC).timestamp()
    tokyo = ZoneInfo("Asia/Tokyo")
    missing = paused(pause_reason("pause.missing", names="Send Messages, Embed Links"), at)
    assert missing.paused_reason == "missing Send Messages, Embed Links"  # what the store and `kiji` keep
    assert describe_pause(missing, tokyo, "en-US") == "missing Send Messages, Embed Links since 2026-11-28 19:00 (JST)"
    in_japanese = "権限が足りません：メッセージを送信、埋め込みリンク（2026年11月28日 19:00 から）"
    assert describe_pause(missing, tokyo, "ja") == in_japanese
    refused = paused(pause_reason("pause.refused", text="A tag is required (forum)", status=400), at)
    assert describe_pause(refused, tokyo, "ja").startswith("Discord に拒否されました：A tag is required (forum)（400）")
    gone = paused(pause_reason("pause.channel_gone"), at)
    assert describe_pause(gone, tokyo, "ja").startswith("チャンネルが見つかりません（削除")
    older = paused("something an older version wrote", at)
    assert describe_pause(older, tokyo, "ja").startswith("something an older version wrote（")
