"""What Kiji says, in Japanese and English, without any Discord import.

Replies follow the user's client locale: Japanese for `ja`, English otherwise. Command
names, descriptions and option names are localised separately (see `command_text_ja`) through
discord.py's Translator in `bot.discord.client`.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from zoneinfo import ZoneInfo

JA = "ja"
EN = "en"
# English's singular, used instead of EN when the message's `count` (or `posts`) is 1; Japanese has none.
EN_ONE = "en:one"


def language(locale: str | None) -> str:
    """The reply language for a Discord locale string such as "ja" or "en-US"."""
    return JA if locale and str(locale).lower().startswith("ja") else EN


MESSAGES: dict[str, dict[str, str]] = {
    "read_article": {EN: "Read the article", JA: "記事を読む"},
    "reading_time": {EN: "{minutes} min read", JA: "約{minutes}分で読めます"},
    "published": {EN: "Published", JA: "公開日"},
    "author": {EN: "Author", JA: "著者"},
    "tags": {EN: "Tags", JA: "タグ"},
    "reading": {EN: "Reading time", JA: "読了時間"},
    "no_summary": {
        EN: "No summary is available for this post; the article itself is one click away.",
        JA: "この記事には要約がありません。記事本文をご覧ください。",
    },
    "summary_source.extractive": {EN: "Summary: extracted from the article", JA: "要約：記事本文から抽出"},
    "summary_source.description": {EN: "Summary: the post's description", JA: "要約：記事の説明文"},
    "summary_source.llm": {EN: "Summary: written by {model}", JA: "要約：{model} による生成"},
    "summary_source.llm_fallback": {
        EN: "Summary: extracted from the article (the language model was unavailable)",
        JA: "要約：記事本文から抽出（言語モデルを利用できませんでした）",
    },
    "summary_label.author": {EN: "The author's summary", JA: "著者による要約"},
    "summary_label.kiji": {EN: "Kiji's summary", JA: "Kijiによる要約"},
    "page": {EN: "Page {page}/{pages}", JA: "{page}/{pages} ページ"},
    "not_your_buttons": {
        EN: "Only the person who ran this command can turn its pages.",
        JA: "ページをめくれるのはこのコマンドを実行した人だけです。",
    },
    "unknown_post": {EN: "No post matches “{query}”.", JA: "「{query}」に一致する記事が見つかりません。"},
    "unknown_tag": {EN: "There is no tag “{query}”.", JA: "「{query}」というタグはありません。"},
    "did_you_mean": {EN: "Did you mean:", JA: "もしかして："},
    "no_results": {EN: "Nothing found for “{query}”.", JA: "「{query}」に一致する記事はありません。"},
    "empty_query": {EN: "Type a word or phrase to search for.", JA: "検索する語句を入力してください。"},
    "search_title": {EN: "Search: {query}", JA: "検索：{query}"},
    "search_count": {EN: "{count} posts found", EN_ONE: "{count} post found", JA: "{count} 件見つかりました"},
    "tag_title": {EN: "Tag: {tag}", JA: "タグ：{tag}"},
    "tag_count": {EN: "{count} posts", EN_ONE: "{count} post", JA: "{count} 件の記事"},
    "tags_title": {EN: "Tags", JA: "タグ一覧"},
    "latest_title": {EN: "Latest posts", JA: "最新記事"},
    "latest_tag_title": {EN: "Latest posts tagged {tag}", JA: "「{tag}」の最新記事"},
    "no_posts": {EN: "No posts yet.", JA: "まだ記事がありません。"},
    "about_title": {EN: "About Kiji", JA: "Kiji について"},
    "about_blog": {EN: "Blog", JA: "ブログ"},
    "about_posts": {EN: "Posts", JA: "記事数"},
    "about_tags": {EN: "Tags", JA: "タグ数"},
    "about_ingest": {EN: "Last update", JA: "最終更新"},
    "about_version": {EN: "Version", JA: "バージョン"},
    "about_blogs": {EN: "Blogs", JA: "ブログ"},
    "about_source": {
        EN: "{posts} posts · updated {updated}",
        EN_ONE: "{posts} post · updated {updated}",
        JA: "{posts} 件 · 最終更新 {updated}",
    },
    "about_source_error": {EN: "⚠ last try {when}: {error}", JA: "⚠ {when} の更新に失敗：{error}"},
    "unknown_blog": {
        EN: "There is no blog “{query}”. Blogs: {names}",
        JA: "「{query}」というブログはありません。ブログ：{names}",
    },
    "never": {EN: "never", JA: "未実施"},
    "error": {
        EN: "Something went wrong while answering; it has been logged. Please try again.",
        JA: "応答中に問題が発生しました（記録済みです）。もう一度お試しください。",
    },
    "missing_permissions": {
        EN: "You need the Manage Server permission to do that.",
        JA: "この操作には「サーバー管理」権限が必要です。",
    },
    "guild_only": {EN: "This command works only in a server.", JA: "このコマンドはサーバー内でのみ使えます。"},
    "related_title": {EN: "Related to: {title}", JA: "関連記事：{title}"},
    "sub.wrong_kind": {EN: "Kiji cannot announce in that kind of channel.", JA: "このチャンネルには投稿できません。"},
    "sub.missing": {
        EN: "Kiji is missing **{names}** in {channel}. Grant it, then run /subscribe again.",
        JA: "{channel} で必要な権限がありません：**{names}**。付与してからもう一度お試しください。",
    },
    "sub.every_post": {EN: "every post", JA: "すべての記事"},
    "sub.webhook_needs": {
        EN: " Webhook delivery needs Manage Webhooks (to post as the blog) and Read Message History"
        " (to never post twice); or choose delivery: Kiji.",
        JA: " Webhook での配信には「ウェブフックの管理」（ブログ名で投稿するため）と「メッセージ履歴を読む」"
        "（二重投稿を防ぐため）が必要です。または配信方法で Kiji を選んでください。",
    },
    "sub.webhook_not_in_forum": {
        EN: "Webhook delivery works in text and announcement channels; in a forum choose delivery: Kiji.",
        JA: "Webhook での配信はテキスト・アナウンスチャンネルで使えます。"
        "フォーラムでは配信方法で Kiji を選んでください。",
    },
    "sub.unknown_forum_tag": {
        EN: "This forum has no tag “{tag}”, so nothing was changed. Its tags: {names}.",
        JA: "このフォーラムに「{tag}」というタグはないため、何も変更していません。タグ：{names}。",
    },
    "sub.tag_required": {
        EN: "{channel} requires a tag on every post, and not every post would match one of its tags, so nothing"
        " was changed. Choose forum_tag (used when none matches), or filter by tags that are the forum's: {names}.",
        JA: "{channel} ではすべての投稿にタグが必要ですが、フォーラムのタグに当てはまらない記事があり得るため、何も変更"
        "していません。フォーラムタグ（当てはまらないときに使うタグ）を選ぶか、フォーラムのタグで絞り込んでください：{names}。",
    },
    "sub.as_blog": {
        EN: " They will come from the blog's name and icon, through Kiji's webhook.",
        JA: " Kiji の Webhook から、ブログの名前とアイコンで投稿します。",
    },
    "sub.by_webhook": {EN: "Sent by: webhook, as the blog", JA: "投稿者：Webhook（ブログ名）"},
    "sub.with_threads": {EN: "A thread on each announcement", JA: "お知らせごとにスレッドを作成"},
    "sub.done": {
        EN: "New posts ({filters}) will be announced in {channel}.",
        JA: "{channel} に新しい記事をお知らせします（対象：{filters}）。",
    },
    "sub.backfill": {EN: " Posting the latest {count} now.", JA: " 最新 {count} 件も投稿します。"},
    "sub.preview": {EN: " Preview:", JA: " お知らせの見本："},
    "sub.bad_style": {
        EN: "That cannot be used, so nothing was changed: {reason}.",
        JA: "この設定は使えないため、何も変更していません：{reason}。",
    },
    "sub.stopped": {EN: "Stopped announcing in {channel}.", JA: "{channel} へのお知らせを停止しました。"},
    "sub.resumed": {EN: "Resumed announcements in {channel}.", JA: "{channel} のお知らせを再開しました。"},
    "sub.not_subscribed": {EN: "{channel} is not subscribed.", JA: "{channel} は登録されていません。"},
    "sub.pick_one": {
        EN: "Pick the channel, or the subscription (also one whose channel was deleted).",
        JA: "チャンネルか、お知らせ先（チャンネルが削除されたものも選べます）を指定してください。",
    },
    "sub.deleted_channel": {EN: "deleted channel {id}", JA: "削除されたチャンネル {id}"},
    "sub.none": {
        EN: "No subscriptions yet; add one with /subscribe.",
        JA: "お知らせ先はまだありません。/subscribe で追加できます。",
    },
    "sub.title": {EN: "Subscriptions", JA: "お知らせ先"},
    "sub.active": {EN: "active", JA: "有効"},
    "sub.paused": {EN: "paused: {why}", JA: "一時停止：{why}"},
    "sub.never_delivered": {EN: "none yet", JA: "なし"},
    "sub.all_posts": {EN: "all posts", JA: "すべて"},
    "sub.state": {EN: "State: {value}", JA: "状態：{value}"},
    "sub.filters": {EN: "Filters: {value}", JA: "対象：{value}"},
    "sub.last": {EN: "Last delivery: {value}", JA: "最終配信：{value}"},
    "sub.mentions": {EN: "Mentions: {value}", JA: "メンション：{value}"},
    "sub.looks": {EN: "Layout: {layout}", JA: "レイアウト：{layout}"},
    "sub.template": {EN: "Template: {value}", JA: "テンプレート：{value}"},
    "no_related": {EN: "No related posts found.", JA: "関連記事は見つかりませんでした。"},
    "sub.paused_since": {EN: "{why} since {since}", JA: "{why}（{since} から）"},
    # Why a subscription was paused. The store keeps the key and its values (`pause_reason`);
    # /subscriptions and `kiji` show them with `pause_reason_in` in the reader's language.
    "pause.channel_gone": {
        EN: "channel not found (deleted, or the bot was removed)",
        JA: "チャンネルが見つかりません（削除されたか、ボットがサーバーから外されました）",
    },
    "pause.wrong_kind": {
        EN: "the channel can no longer carry announcements",
        JA: "このチャンネルにはもうお知らせを投稿できません",
    },
    "pause.missing": {EN: "missing {names}", JA: "権限が足りません：{names}"},
    "pause.blog_not_configured": {
        EN: "the blog {blog} is no longer configured",
        JA: "ブログ「{blog}」はもう設定されていません",
    },
    "pause.not_found": {EN: "channel not found (404)", JA: "チャンネルが見つかりません（404）"},
    "pause.refused": {EN: "Discord refused: {text} ({status})", JA: "Discord に拒否されました：{text}（{status}）"},
}

# Permission names as Discord's own UI shows them, by the English name.
PERMISSION_NAMES_JA = {
    "View Channel": "チャンネルを見る",
    "Send Messages": "メッセージを送信",
    "Embed Links": "埋め込みリンク",
    "Create Posts": "投稿を作成",
    "Send Messages in Threads": "スレッドでメッセージを送信",
}


# Options checked on Kiji's side (bot.discord.options): a value Discord's client would not have sent.
MESSAGES.update(
    {
        "option_out_of_range": {
            EN: "{value} is out of range: choose a number from {low} to {high}.",
            JA: "{value} は範囲外です。{low}〜{high} の数を指定してください。",
        },
    }
)


# Digests (bot.discord.digests) and notices that a blog stopped updating (bot.discord.notices).
MESSAGES.update(
    {
        "digest.daily": {EN: "Posts of {date}", JA: "{date} の記事"},
        "digest.weekly": {EN: "Posts of the week to {date}", JA: "{date} までの1週間の記事"},
        "digest.count": {EN: "{count} posts", JA: "{count} 件"},
        "digest.every_day": {EN: "every day at {hour}:00 ({zone})", JA: "毎日 {hour}時（{zone}）"},
        "digest.every_week": {EN: "every {weekday} at {hour}:00 ({zone})", JA: "毎週{weekday} {hour}時（{zone}）"},
        "sub.digest": {
            EN: " New posts are collected into one message {when}.",
            JA: " 新しい記事は {when} に1通にまとめてお知らせします。",
        },
        "sub.digest_line": {EN: "Digest: {when}", JA: "まとめ配信：{when}"},
        "sub.digest_in_forum": {
            EN: "Digests go to text or announcement channels; pick one of those, or digest:off for this forum.",
            JA: "まとめ配信はテキストかアナウンスチャンネルにのみ送れます。"
            "そのどちらかを選ぶか、digest:off にしてください。",
        },
        "notice.down": {
            EN: "⚠️ **{blog}** has not been updated for over {hours} hours: {why}. New posts are announced once it "
            "can be read again.",
            JA: "⚠️ **{blog}** を{hours}時間以上更新できていません：{why}。"
            "読み込めるようになり次第、新しい記事をお知らせします。",
        },
        "notice.up": {
            EN: "✅ **{blog}** is updating again (it could not be read since {since}).",
            JA: "✅ **{blog}** の更新が再開しました（{since} から読み込めていませんでした）。",
        },
        "notice.detail": {EN: "Details: {detail}", JA: "詳細：{detail}"},
        "why.timeout": {EN: "reading it takes too long", JA: "読み込みに時間がかかりすぎています"},
        "why.access": {EN: "access to it was refused", JA: "アクセスが拒否されました"},
        "why.missing": {
            EN: "it is no longer where Kiji reads it from (moved or deleted)",
            JA: "読み込み元が見つかりません（移動または削除されました）",
        },
        "why.unreachable": {EN: "its server cannot be reached", JA: "サーバーに接続できません"},
        "why.config": {EN: "its site configuration cannot be read", JA: "サイトの設定を読み込めません"},
        "why.other": {EN: "it cannot be read", JA: "読み込めません"},
        "notices.on": {
            EN: "Notices about blogs that stop updating go to the subscribed channels.",
            JA: "ブログの更新が止まったときのお知らせは、購読中のチャンネルに送ります。",
        },
        "notices.channel": {
            EN: "Notices about blogs that stop updating go to {channel}.",
            JA: "ブログの更新が止まったときのお知らせは {channel} に送ります。",
        },
        "notices.off": {
            EN: "Notices about blogs that stop updating are off in this server.",
            JA: "このサーバーでは、ブログの更新が止まったときのお知らせを送りません。",
        },
    }
)
WEEKDAYS = {
    EN: ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    JA: ("月曜日", "火曜日", "水曜日", "木曜日", "金曜日", "土曜日", "日曜日"),
}


def weekday_name(weekday: int, locale: str | None) -> str:
    return WEEKDAYS[language(locale)][weekday]


def permission_names(names: list[str] | tuple[str, ...], locale: str | None) -> str:
    """ "Send Messages, Embed Links" in the reader's language."""
    if language(locale) == JA:
        return "、".join(PERMISSION_NAMES_JA.get(name, name) for name in names)
    return ", ".join(names)


def pause_reason(key: str, **values: str | int | list[str]) -> str:
    """What the store keeps for a pause: the message key ("pause.*") and its values, as JSON.

    The reader's language is chosen when the reason is shown (`pause_reason_in`), not when
    it is stored; permission names are kept as Discord's English names and translated then.
    """
    return json.dumps({"key": key, "values": values}, ensure_ascii=False, sort_keys=True)


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>.+)", re.escape(template)) + "$", re.DOTALL)


# Versions before reasons were stored as keys wrote the English text: read those back too.
_OLD_ENGLISH_PAUSES = [(key, _pattern(entry[EN])) for key, entry in MESSAGES.items() if key.startswith("pause.")]


def _stored_pause(stored: str) -> tuple[str, dict[str, object]] | None:
    """(key, values) of a stored reason, of either form; None for text this version does not know."""
    try:
        decoded = json.loads(stored)
    except ValueError:
        decoded = None
    if isinstance(decoded, dict) and decoded.get("key") in MESSAGES and isinstance(decoded.get("values"), dict):
        return decoded["key"], dict(decoded["values"])
    for key, pattern in _OLD_ENGLISH_PAUSES:
        found = pattern.match(stored)
        if found is not None:
            values: dict[str, object] = dict(found.groupdict())
            if "names" in values:
                values["names"] = str(values["names"]).split(", ")
            return key, values
    return None


def pause_reason_in(stored: str, locale: str | None) -> str:
    """A stored pause reason in the reader's language; text this version did not write stays as is."""
    known = _stored_pause(stored)
    if known is None:
        return stored
    key, values = known
    names = values.get("names")
    if isinstance(names, list):
        values["names"] = permission_names([str(name) for name in names], locale)
    try:
        return t(key, locale, **values)
    except (KeyError, IndexError):  # values from another version's message: show them as they are
        return stored


def t(key: str, locale: str | None, **values: object) -> str:
    """The message `key` in the reply language of `locale`, with `values` filled in."""
    entry = MESSAGES[key]
    form = language(locale)
    if form == EN and EN_ONE in entry and 1 in (values.get("count"), values.get("posts")):
        form = EN_ONE
    return entry[form].format(**values)


def format_date(timestamp: float, tz: ZoneInfo, locale: str | None) -> str:
    """A post date in the site's time zone: 2025年12月10日 17:45 / 2025-12-10 17:45 (JST)."""
    moment = datetime.fromtimestamp(timestamp, tz)
    if language(locale) == JA:
        return f"{moment.year}年{moment.month}月{moment.day}日 {moment:%H:%M}"
    return f"{moment:%Y-%m-%d %H:%M} ({moment:%Z})"


# Localised command texts, looked up by where the string sits (the translator's context), so
# the same English word can be one thing as a command and another as an option: the /tags
# command is 「タグ一覧」, /subscribe's `tags` option 「タグ」. en-US uses the English defaults
# as they are. Names follow Discord's rules (lower case, no spaces, at most 32 characters).
COMMAND_NAMES_JA: dict[str, str] = {
    "summary": "要約",
    "tag": "タグ",
    "tags": "タグ一覧",
    "search": "検索",
    "latest": "最新",
    "random": "ランダム",
    "about": "情報",
    "related": "関連記事",
    "subscribe": "購読",
    "unsubscribe": "購読解除",
    "subscriptions": "購読一覧",
    "resume": "再開",
    "notices": "更新停止のお知らせ",
    "channel": "チャンネル指定",
    "on": "オン",
    "off": "オフ",
}
# Option names; "command option" overrides "option" for one command.
OPTION_NAMES_JA: dict[str, str] = {
    "post": "記事",
    "length": "長さ",
    "query": "語句",
    "count": "件数",
    "tag": "タグ",
    "tags": "タグ",
    "channel": "チャンネル",
    "categories": "カテゴリ",
    "mention_role": "メンションするロール",
    "backfill": "過去記事数",
    "subscription": "お知らせ先",
    "blog": "ブログ",
    "template": "テンプレート",
    "layout": "レイアウト",
    "timezone": "タイムゾーン",
    "delivery": "配信方法",
    "thread": "スレッド",
    "thread_name": "スレッド名",
    "forum_tag": "フォーラムタグ",
    "digest": "まとめ配信",
    "digest_hour": "まとめの時刻",
    "digest_weekday": "まとめの曜日",
}
CHOICE_NAMES_JA: dict[str, str] = {
    "Short": "短め",
    "Standard": "標準",
    "Long": "長め",
    "Embed": "埋め込み",
    "Card": "カード",
    "Plain text": "テキストのみ",
    "Kiji": "kiji",
    "Webhook, as the blog": "webhook（ブログ名で投稿）",
    "Off": "オフ",
    "Daily": "毎日",
    "Weekly": "毎週",
    **dict(zip(WEEKDAYS[EN], WEEKDAYS[JA], strict=True)),
}
# Command and option descriptions.
DESCRIPTIONS_JA: dict[str, str] = {
    "Only posts from this blog": "このブログの記事だけ",
    "Summarise a post": "記事の要約を表示します",
    "The post (type part of its title)": "記事（タイトルの一部を入力）",
    "How long the summary should be": "要約の長さ",
    "List the posts with a tag": "タグの付いた記事を一覧します",
    "The tag": "タグ",
    "List every tag with its number of posts": "すべてのタグと記事数を一覧します",
    "Search the blog (Japanese or English)": "ブログを検索します（日本語・英語）",
    "Words to look for": "検索する語句",
    "Show the newest posts": "最新の記事を表示します",
    "How many posts (1-10)": "表示する件数（1〜10）",
    "Only posts with this tag": "このタグの記事だけ",
    "Show a random post": "ランダムに記事を1件表示します",
    "What this bot serves": "このボットが配信しているブログについて",
    "Posts related to a post": "関連する記事を表示します",
    "Announce new posts in a channel": "新しい記事をチャンネルでお知らせします",
    "Where to announce (text, announcement or forum channel)": "お知らせ先（テキスト・アナウンス・フォーラム）",
    "Only posts with any of these tags (space separated)": "これらのタグのいずれかを持つ記事だけ（空白区切り）",
    "Only posts in any of these categories (space separated)": "これらのカテゴリのいずれかの記事だけ（空白区切り）",
    "A role to mention with each announcement": "お知らせのたびにメンションするロール",
    "Also post this many of the latest matching posts now (0-10)": "最新の該当記事を今この件数だけ投稿（0〜10）",
    "Stop announcing new posts in a channel": "チャンネルでのお知らせを停止します",
    "The channel to stop announcing in": "停止するチャンネル",
    "Or the subscription, also one whose channel was deleted": "またはお知らせ先（チャンネルが削除されたものも）",
    "Resume a paused subscription after fixing it": "問題を直した後、一時停止中のお知らせを再開します",
    "The paused channel": "一時停止中のチャンネル",
    "List this server's announcement channels": "このサーバーのお知らせ先を一覧します",
    "Message text with {title}, {url}, {summary}, {date}, {tags}, {role}…": (
        "メッセージの文面。{title}、{url}、{summary}、{date}、{tags}、{role} などが使えます"
    ),
    "How each post looks: embed, card or plain text": "記事の見せ方：埋め込み・カード・テキストのみ",
    "Time zone of {date}, e.g. Asia/Tokyo (default: the blog's)": (
        "{date} のタイムゾーン（例 Asia/Tokyo、既定はブログのもの）"
    ),
    "Sent by Kiji, or by a webhook with the blog's name and icon (needs Manage Webhooks)": (
        "Kiji が投稿するか、ブログの名前とアイコンで Webhook から投稿するか（ウェブフックの管理が必要）"
    ),
    "Open a thread on each announcement (text and announcement channels)": (
        "お知らせごとにスレッドを作成（テキスト・アナウンスチャンネル）"
    ),
    "The thread's or forum post's name, e.g. {title} (the default)": (
        "スレッドやフォーラム投稿の名前（例 {title}、既定）"
    ),
    "Forum tag for posts none of whose tags match the forum's": (
        "フォーラムのタグに当てはまるタグがない記事に付けるタグ"
    ),
    "One message a day or a week listing the new posts, instead of one per post": (
        "記事ごとではなく、1日または1週間分の新着記事を1通にまとめて送ります"
    ),
    "The hour the digest goes out (0-23, in the time zone above)": "まとめを送る時刻（0〜23時、上のタイムゾーン）",
    "The weekday a weekly digest goes out": "毎週のまとめを送る曜日",
    "Notices when a blog stops updating, and when it recovers": "ブログの更新が止まったとき・再開したときのお知らせ",
    "Send the notices to one channel instead of the subscribed ones": (
        "お知らせを購読中のチャンネルではなく、1つのチャンネルに送ります"
    ),
    "Where the notices go": "お知らせの送り先",
    "Send the notices to the subscribed channels (the default)": "お知らせを購読中のチャンネルに送ります（既定）",
    "Turn the notices off in this server": "このサーバーではお知らせを送りません",
}


def command_text_ja(where: str, message: str, command: str | None = None) -> str | None:
    """The Japanese form of a command's `message` at `where`: "command", "option", "choice" or "description".

    None when there is none: Discord then shows the English default.
    """
    if where == "command":
        return COMMAND_NAMES_JA.get(message)
    if where == "option":
        return OPTION_NAMES_JA.get(f"{command} {message}") or OPTION_NAMES_JA.get(message)
    if where == "choice":
        return CHOICE_NAMES_JA.get(message)
    return DESCRIPTIONS_JA.get(message)
