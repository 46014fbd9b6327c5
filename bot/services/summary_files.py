"""`kiji summarize FILE`: summaries of Markdown files without a store or a site around them."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, NamedTuple, TextIO

from bot.content.abstracts import author_abstract
from bot.content.cleaning import clean_body
from bot.content.summarize import NO_SUMMARY_TEXT, SummaryLength, summarize
from bot.sources.front_matter import front_matter_of, split_front_matter
from bot.sources.post_error import PostError
from bot.sources.post_reader import tags_of
from bot.sources.ruby_text import ruby_str

log = logging.getLogger(__name__)


class NotAPost(ValueError):
    """A file Jekyll would not read as a post: summarising it would summarise something else."""


class PostFile(NamedTuple):
    title: str
    body: str  # Markdown
    description: str | None
    tags: tuple[str, ...]  # what the post is about besides its title: summaries favour sentences naming them


def read_post(path: str, *, require_front_matter: bool = False) -> tuple[str, str, str | None]:
    """(title, Markdown body, description) of a post file: see `read_post_file`."""
    return read_post_file(path, require_front_matter=require_front_matter)[:3]


def read_post_file(path: str, *, require_front_matter: bool = False) -> PostFile:
    """Title, Markdown body, description and tags of a post file.

    A file given on the command line has no site around it, but its front matter is read
    exactly as ingest reads it (Jekyll's front-matter rule and YAML loader), so
    `kiji summarize FILE` and `/summary` never disagree about a post's title or body.
    A file without front matter is all body, unless `require_front_matter` (then NotAPost).
    """
    text = Path(path).read_bytes().decode("utf-8-sig")
    split = split_front_matter(text)
    if split is None:
        if require_front_matter:
            raise NotAPost("not a post: it has no front matter (a post starts with a '---' line, then its title)")
        return PostFile("", text, None, ())
    post = front_matter_of(*split, path)
    body, meta = post.body, post.data
    title = meta.get("title")
    description = meta.get("description")
    return PostFile(
        ruby_str(title) if title else "", body, ruby_str(description) if description else None, tags_of(meta)
    )


def why_not_summarised(exc: Exception) -> str:
    """The reason in a user's words; the file's path is printed next to it already."""
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "a folder, not a post file"
    if isinstance(exc, PermissionError):
        return "cannot be read: permission denied"
    if isinstance(exc, UnicodeDecodeError):
        return f"not a text post: not UTF-8 at byte {exc.start}"
    if isinstance(exc, PostError):
        return exc.reason
    if isinstance(exc, NotAPost | OSError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def summarize_files(paths: list[str], length: str, as_json: bool, out: TextIO) -> int:
    """Summarise Markdown files without a store; a bad file is reported and the run goes on.

    As `/summary` does, a post whose description is an abstract its author wrote gets that
    first: `summary` is the author's abstract (`source` "author") or Kiji's own (`source`
    "extractive"); `extractive` and `sentences` are always Kiji's own, measured on their own.
    Exit code 0 when every file was read, 1 when any could not be.
    """
    size = SummaryLength(length)
    failures = 0
    for path in paths:
        record: dict[str, Any] = {
            "path": path,
            "title": None,
            "summary": None,
            "source": None,
            "extractive": None,
            "sentences": [],
            "error": None,
        }
        try:
            title, markdown, description, tags = read_post_file(path, require_front_matter=True)
            record["title"] = title
            summary = summarize(title, clean_body(markdown, title=title), size, subjects=tags)
            record["extractive"] = summary.text if summary.available else None
            record["sentences"] = list(summary.sentences)
            author = author_abstract(description, markdown, title)
            record["summary"], record["source"] = (author, "author") if author else (record["extractive"], "extractive")
        except Exception as exc:  # one unreadable file must not stop the run
            failures += 1
            record["error"] = why_not_summarised(exc)
            log.debug("cannot summarise %s", path, exc_info=True)  # said once, below, to the user
        if as_json:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            out.write(f"{path}\n")
            if record["error"]:
                out.write(f"  error: {record['error']}\n\n")
                continue
            out.write(f"  {record['title']}\n")
            if record["source"] == "author":
                out.write(f"  author's summary: {record['summary']}\n")
                out.write(f"  Kiji's summary: {record['extractive'] or NO_SUMMARY_TEXT}\n\n")
            else:
                out.write(f"  {record['summary'] or NO_SUMMARY_TEXT}\n\n")
    return 1 if failures else 0
