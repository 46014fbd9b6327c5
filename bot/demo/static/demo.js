// The Kiji demo page: a Discord-like channel over the demo's JSON API. No build step, no dependencies.
"use strict";

const TEXT = {
  ja: {
    acting_as: "ユーザー", language: "言語", send: "送信", placeholder: "#{channel} へメッセージを送信 — / でコマンド",
    used: "が使用しました", only_you: "これはあなただけに表示されています", only_for: "{name} さんだけに表示されています",
    thinking: "Kiji が考えています…", refused: "Discord はこのリクエストを拒否します", no_choices: "候補はありません",
    no_command: "そのコマンドはありません", bot: "BOT", option_hint: "オプション",
    slash_first: "コマンドは / で始まります(/ を入力すると一覧が出ます)。このデモではメッセージは送れません。",
    preview: "告知のプレビュー", preview_post: "記事", preview_template: "テンプレート", preview_show: "表示",
    next_digest: "次のダイジェストの時刻へ進める", clock_moved: "デモの時計: {now}",
    layout_embed: "埋め込み", layout_card: "カード", layout_text: "プレーンテキスト",
  },
  "en-US": {
    acting_as: "Acting as", language: "Language", send: "Send", placeholder: "Message #{channel} — type / for commands",
    used: "used", only_you: "Only you can see this", only_for: "Only {name} can see this",
    thinking: "Kiji is thinking…", refused: "Discord would refuse this request", no_choices: "No choices",
    no_command: "No such command", bot: "BOT", option_hint: "options",
    slash_first: "Commands start with / (type / to see them); this demo sends no plain messages.",
    preview: "Announcement preview", preview_post: "Post", preview_template: "Template", preview_show: "Show",
    next_digest: "Move on to the next digest hour", clock_moved: "The demo's clock: {now}",
    layout_embed: "Embed", layout_card: "Card", layout_text: "Plain text",
  },
};

const state = {
  setup: null, view: null, version: -1, channel: null, locale: "ja", person: null,
  command: null, popup: [], selected: 0, popupFor: null, autocompleteSeq: 0, seen: {},
};

const $ = (id) => document.getElementById(id);
const t = (key, vars = {}) => (TEXT[state.locale][key] || key).replace(/\{(\w+)\}/g, (_, k) => vars[k] ?? "");

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat()) if (child !== null && child !== undefined) node.append(child);
  return node;
}

// This run's token, in the page's own HTML: the demo runs no command without it.
const TOKEN = document.querySelector('meta[name="kiji-demo-token"]')?.content || "";

async function api(path, body) {
  const response = await fetch(path, body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json", "X-Kiji-Demo-Token": TOKEN }, body: JSON.stringify(body),
  });
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

// ------------------------------------------------------------------ names in the chosen language

function localName(thing) {
  const names = thing.name_localizations || {};
  return (state.locale === "ja" && names.ja) || thing.name;
}
function localDescription(thing) {
  const names = thing.description_localizations || {};
  return (state.locale === "ja" && names.ja) || thing.description || "";
}

// ------------------------------------------------------------------ Discord markdown, the part Kiji uses

function markdown(text) {
  const escaped = (text || "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  const channels = Object.fromEntries((state.setup?.channels || []).map((c) => [c.id, c.name]));
  const roles = Object.fromEntries((state.setup?.roles || []).map((r) => [r.id, r.name]));
  return escaped
    .replace(/^### (.*)$/gm, '<span class="md-h3">$1</span>')
    .replace(/^-# (.*)$/gm, '<span class="md-sub">$1</span>')
    .replace(/^&gt; (.*)$/gm, '<span class="md-quote">$1</span>')
    .replace(/\[([^\]]+)\]\((https?:\/\/[^)\s]+)\)/g, '<a href="$2" target="_blank" rel="noopener">$1</a>')
    .replace(/\*\*([^*]+)\*\*/g, "<b>$1</b>")
    .replace(/(^|[^*])\*([^*\n]+)\*/g, "$1<i>$2</i>")
    .replace(/`([^`]+)`/g, "<code>$1</code>")
    .replace(/&lt;#(\d+)&gt;/g, (_, id) => `<span class="mention">#${channels[id] || id}</span>`)
    .replace(/&lt;@&amp;(\d+)&gt;/g, (_, id) => `<span class="mention">@${roles[id] || id}</span>`)
    .replace(/&lt;t:(\d+)(?::\w)?&gt;/g, (_, s) => new Date(Number(s) * 1000).toLocaleString(state.locale));
}

function rich(tag, cls, text) {
  const node = el(tag, { class: cls });
  node.innerHTML = markdown(text);
  return node;
}

// ------------------------------------------------------------------ rendering

function renderEmbed(embed) {
  const colour = embed.color !== undefined ? "#" + Number(embed.color).toString(16).padStart(6, "0") : null;
  const title = embed.title
    ? el("div", { class: "embed-title" }, embed.url ? el("a", { href: embed.url, target: "_blank", rel: "noopener", text: embed.title }) : embed.title)
    : null;
  return el("div", { class: "embed", style: colour ? `border-left-color:${colour}` : null },
    embed.author?.name ? el("div", { class: "embed-author", text: embed.author.name }) : null,
    title,
    embed.description ? rich("div", "embed-description", embed.description) : null,
    embed.fields?.length ? el("div", { class: "embed-fields" }, embed.fields.map((f) =>
      el("div", { class: "embed-field" + (f.inline ? " inline" : "") },
        rich("div", "embed-field-name", f.name), rich("div", "embed-field-value", f.value)))) : null,
    embed.footer?.text || embed.timestamp ? el("div", { class: "embed-footer",
      text: [embed.footer?.text, embed.timestamp && new Date(embed.timestamp).toLocaleString(state.locale)].filter(Boolean).join(" • ") }) : null,
  );
}

const STYLES = { 1: "primary", 2: "secondary", 3: "success", 4: "danger" };

function renderComponent(message, c) {
  const label = [c.emoji?.name, c.label].filter(Boolean).join(" ");
  if (c.type === 1) return el("div", { class: "components" }, (c.components || []).map((x) => renderComponent(message, x)));
  if (c.type === 2 && c.style === 5) {
    return el("a", { class: "component link-button", href: c.url, target: "_blank", rel: "noopener", text: label + " ↗" });
  }
  if (c.type === 2) {
    return el("button", { class: "component " + (STYLES[c.style] || ""), type: "button", disabled: !!c.disabled,
      "data-custom-id": c.custom_id, text: label, onclick: () => click(message.id, c.custom_id) });
  }
  // Components V2 (what the card layout sends): container, section, text display, thumbnail, gallery, separator.
  if (c.type === 17) {
    const colour = c.accent_color != null ? "#" + Number(c.accent_color).toString(16).padStart(6, "0") : null;
    return el("div", { class: "v2-container", style: colour ? `border-left-color:${colour}` : null },
      (c.components || []).map((x) => renderComponent(message, x)));
  }
  if (c.type === 9) {
    return el("div", { class: "v2-section" }, el("div", { class: "v2-section-text" },
      (c.components || []).map((x) => renderComponent(message, x))), c.accessory ? renderComponent(message, c.accessory) : null);
  }
  if (c.type === 10) return rich("div", "v2-text", c.content);
  if (c.type === 11) return el("img", { class: "v2-thumbnail", src: c.media?.url, alt: c.description || "" });
  if (c.type === 12) return el("div", { class: "v2-gallery" }, (c.items || []).map((i) => el("img", { src: i.media?.url, alt: i.description || "" })));
  if (c.type === 14) return el("hr", { class: "v2-separator" });
  return el("span", { class: "component", text: `(${c.type})` });
}

function renderComponents(message) {
  return (message.components || []).map((c) => renderComponent(message, c));
}

function renderRefusals(refusals) {
  return (refusals || []).map((r) => el("div", { class: "refusal" },
    el("b", { text: t("refused") }), " — ", el("code", { text: r.request }), el("div", { text: `${r.kind}: ${r.detail}` })));
}

function renderItem(item) {
  if (item.kind === "command") {
    const options = item.options.map(([name, value]) => `${optionLabel(item.command, name)}: ${value}`).join("  ");
    const command = state.setup.commands.find((c) => c.name === item.command);
    return el("div", { class: "item command", "data-interaction": item.id },
      el("div", { class: "command-line" }, el("b", { text: item.user }), " " + t("used") + " ",
        el("span", { class: "cmd", text: "/" + (command ? localName(command) : item.command) }), options ? "  " + options : ""),
      renderRefusals(item.refusals));
  }
  if (item.kind === "notice") return el("div", { class: "item notice" }, renderRefusals(item.refusals));
  const m = item.message;
  const time = new Date(m.timestamp).toLocaleTimeString(state.locale, { hour: "2-digit", minute: "2-digit" });
  return el("div", { class: "item message", "data-message-id": m.id, "data-interaction": item.interaction },
    item.avatar_url ? el("img", { class: "avatar", src: item.avatar_url, alt: "" })
      : el("div", { class: "avatar", text: (m.author.global_name || m.author.username || "K")[0] }),
    el("div", { class: "body" },
      el("div", { class: "head" }, el("span", { class: "author", text: m.author.global_name || m.author.username }),
        el("span", { class: "bot-tag", text: t("bot") }), el("span", { class: "time", text: time })),
      item.layout ? el("div", { class: "preview-label", text: t("layout_" + item.layout) }) : null,
      item.loading ? el("div", { class: "loading", text: t("thinking") }) : null,
      m.content ? rich("div", "content", m.content) : null,
      (m.embeds || []).map(renderEmbed),
      renderComponents(m),
      item.ephemeral ? el("div", { class: "ephemeral-note",
        text: item.only_for && item.only_for !== personName() ? t("only_for", { name: item.only_for }) : t("only_you") }) : null));
}

function optionLabel(commandName, optionName) {
  const command = state.setup.commands.find((c) => c.name === commandName);
  const option = command?.options?.find((o) => o.name === optionName);
  return option ? localName(option) : optionName;
}

function personName() {
  return state.setup.people.find((p) => p.id === state.person)?.name;
}

function render() {
  if (!state.setup || !state.view) return;
  const channelList = $("channels");
  channelList.replaceChildren(...state.setup.channels.map((c) => {
    const count = (state.view.channels[c.id] || []).length;
    if (c.id === state.channel || !(c.id in state.seen)) state.seen[c.id] = count; // what was there is not news
    const unread = count - (state.seen[c.id] ?? count);
    return el("li", { class: "channel" + (c.id === state.channel ? " active" : ""), "data-name": c.name,
      onclick: () => { state.channel = c.id; render(); } },
      "# " + c.name, unread > 0 ? el("span", { class: "badge", text: String(unread) }) : null);
  }));
  const channel = state.setup.channels.find((c) => c.id === state.channel);
  $("channel-title").textContent = "# " + channel.name;
  $("channel-topic").textContent = channel.topic || "";
  $("composer-input").placeholder = t("placeholder", { channel: channel.name });
  $("server-refusals").replaceChildren(...renderRefusals(state.view.refusals));
  const box = $("messages");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  box.replaceChildren(...(state.view.channels[state.channel] || []).map(renderItem));
  if (atBottom) box.scrollTop = box.scrollHeight;
  for (const node of document.querySelectorAll("[data-text]")) node.textContent = t(node.dataset.text);
  document.documentElement.lang = state.locale === "ja" ? "ja" : "en";
}

// ------------------------------------------------------------------ the composer: commands, options, autocomplete

function showPopup(entries, onPick, forWhat) {
  state.popup = entries;
  state.selected = 0;
  state.popupFor = forWhat;
  const popup = $("popup");
  popup.hidden = false;
  if (!entries.length) {
    popup.replaceChildren(el("div", { class: "empty", text: forWhat === "command" ? t("no_command") : t("no_choices") }));
    return;
  }
  popup.replaceChildren(...entries.map((entry, i) => el("div", {
    class: "choice" + (i === 0 ? " selected" : ""), role: "option", "data-value": entry.value,
    onmousedown: (event) => { event.preventDefault(); onPick(entry); },
  }, entry.label, entry.hint ? el("small", { text: entry.hint }) : null)));
  popup.onPick = onPick;
}

function hidePopup() {
  $("popup").hidden = true;
  state.popup = [];
  state.popupFor = null;
}

function commandMatches(typed) {
  const wanted = typed.replace(/^\//, "").toLowerCase();
  return state.setup.commands
    .filter((c) => [c.name, localName(c)].some((n) => n.toLowerCase().startsWith(wanted)))
    .map((c) => ({ value: c.name, label: "/" + localName(c), hint: localDescription(c) }));
}

function chooseCommand(name) {
  const command = state.setup.commands.find((c) => c.name === name);
  state.command = command;
  hidePopup();
  $("composer-input").value = "";
  $("composer-input").hidden = true;
  const chip = $("command-chip");
  chip.hidden = false;
  chip.textContent = "/" + localName(command);
  const options = [...(command.options || [])].sort((a, b) => Number(!!b.required) - Number(!!a.required));
  $("options").replaceChildren(...options.map(optionField));
  const first = $("options").querySelector("input, select");
  if (first) first.focus();
  else $("send").focus();
}

function optionField(option) {
  const label = el("span", { class: "option-name" + (option.required ? " required" : ""), text: localName(option), title: localDescription(option) });
  let field;
  const pick = (list, value, name) => el("select", { "data-option": option.name },
    el("option", { value: "", text: "—" }), list.map((x) => el("option", { value: x[value], text: x[name] })));
  if (option.choices?.length) {
    field = pick(option.choices.map((c) => ({ value: c.value, name: localName(c) })), "value", "name");
  } else if (option.type === 7) {
    field = pick(state.setup.channels.map((c) => ({ id: c.id, name: "#" + c.name })), "id", "name");
  } else if (option.type === 8) {
    field = pick(state.setup.roles.map((r) => ({ id: r.id, name: "@" + r.name })), "id", "name");
  } else if (option.type === 6) {
    field = pick(state.setup.people.map((p) => ({ id: p.id, name: "@" + p.name })), "id", "name");
  } else if (option.type === 5) {
    field = pick([{ v: "true", n: "True" }, { v: "false", n: "False" }], "v", "n");
  } else {
    field = el("input", { "data-option": option.name, type: option.type === 4 || option.type === 10 ? "number" : "text",
      min: option.min_value, max: option.max_value, maxlength: option.max_length, placeholder: localDescription(option) });
    if (option.autocomplete) {
      field.addEventListener("input", () => { delete field.dataset.value; autocomplete(option, field); });
      field.addEventListener("focus", () => autocomplete(option, field));
      field.addEventListener("blur", () => { if (state.popupFor === option.name) hidePopup(); });
    }
  }
  return el("label", { class: "option" }, label, field);
}

function optionValues() {
  const values = {};
  for (const field of $("options").querySelectorAll("[data-option]")) {
    const value = field.dataset.value ?? field.value;
    if (value !== "") values[field.dataset.option] = value;
  }
  return values;
}

async function autocomplete(option, field) {
  const seq = ++state.autocompleteSeq;
  const options = optionValues();
  options[option.name] = field.value;
  try {
    const { choices } = await api("/api/autocomplete", {
      name: state.command.name, focused: option.name, options, locale: state.locale,
      user_id: state.person, channel_id: state.channel,
    });
    if (seq !== state.autocompleteSeq || document.activeElement !== field) return;
    showPopup(choices.map((c) => ({ value: String(c.value), label: localName(c) })), (entry) => {
      field.value = entry.label;
      field.dataset.value = entry.value;
      hidePopup();
    }, option.name);
  } catch (error) {
    $("composer-error").textContent = error.message;
  }
}

function resetComposer() {
  state.command = null;
  $("command-chip").hidden = true;
  $("options").replaceChildren();
  const input = $("composer-input");
  input.hidden = false;
  input.value = "";
  input.focus();
  hidePopup();
}

async function send(event) {
  event.preventDefault();
  if (state.popup.length && state.popupFor) return pickSelected();
  if (!state.command) {
    const typed = $("composer-input").value.trim();
    const matches = commandMatches(typed);
    if (!typed) return;
    if (!typed.startsWith("/")) $("composer-error").textContent = t("slash_first");
    else if (!matches.length) $("composer-error").textContent = t("no_command");
    else chooseCommand(matches[0].value);
    return;
  }
  $("composer-error").textContent = "";
  try {
    await api("/api/command", { name: state.command.name, options: optionValues(), locale: state.locale,
      user_id: state.person, channel_id: state.channel });
    resetComposer();
  } catch (error) {
    $("composer-error").textContent = error.message;
  }
}

function pickSelected() {
  const entry = state.popup[state.selected];
  if (entry) $("popup").onPick(entry);
}

function moveSelection(step) {
  if (!state.popup.length) return;
  state.selected = (state.selected + step + state.popup.length) % state.popup.length;
  [...$("popup").querySelectorAll(".choice")].forEach((node, i) => node.classList.toggle("selected", i === state.selected));
}

async function click(messageId, customId) {
  $("composer-error").textContent = "";
  try {
    await api("/api/click", { message_id: messageId, custom_id: customId, locale: state.locale, user_id: state.person });
  } catch (error) {
    $("composer-error").textContent = error.message;
  }
}

// ------------------------------------------------------------------ announcements: each layout, and the digest's hour

async function showPreview() {
  $("preview-error").textContent = "";
  try {
    const shown = await api("/api/preview", { post: $("preview-post").value, template: $("preview-template").value,
      locale: state.locale });
    const select = $("preview-post");
    select.replaceChildren(...shown.posts.map((p) => el("option", { value: p.id, text: p.title })));
    select.value = shown.post.id;
    const bot = { global_name: state.setup.bot.name };
    $("preview-layouts").replaceChildren(...Object.entries(shown.layouts).map(([layout, result]) => {
      if (result.error) {
        return el("div", { class: "preview-layout", "data-layout": layout },
          el("div", { class: "preview-label", text: t("layout_" + layout) }), el("div", { class: "refusal", text: result.error }));
      }
      const message = { id: "preview-" + layout, author: bot, timestamp: new Date().toISOString(), ...result.body };
      return el("div", { class: "preview-layout", "data-layout": layout },
        renderItem({ kind: "message", message, layout, ephemeral: false, loading: false, interaction: null }));
    }));
  } catch (error) {
    $("preview-error").textContent = error.message;
  }
}

function togglePreview() {
  const panel = $("preview");
  panel.hidden = !panel.hidden;
  if (!panel.hidden) showPreview();
}

async function nextDigest() {
  $("composer-error").textContent = "";
  try {
    const moved = await api("/api/next-digest", {});
    $("clock-note").textContent = t("clock_moved", { now: new Date(moved.now).toLocaleString(state.locale) });
    state.channel = moved.channel_id;
    render();
  } catch (error) {
    $("composer-error").textContent = error.message;
  }
}

// ------------------------------------------------------------------ start

async function poll() {
  for (;;) {
    try {
      state.view = await api("/api/view?after=" + state.version);
      state.version = state.view.version;
      render();
    } catch (error) {
      $("composer-error").textContent = error.message;
      await new Promise((resolve) => setTimeout(resolve, 1000)); // the demo stopped or restarts: try again
    }
  }
}

async function main() {
  state.setup = await api("/api/setup");
  state.channel = state.setup.channels[0].id;
  state.person = state.setup.you;
  $("guild-name").textContent = state.setup.guild.name;
  $("validation-note").textContent = state.setup.validation;
  $("person").replaceChildren(...state.setup.people.map((p) => el("option", { value: p.id, text: p.name })));
  $("person").addEventListener("change", (e) => { state.person = e.target.value; render(); });
  $("locale").addEventListener("change", (e) => {
    state.locale = e.target.value;
    if (state.command) chooseCommand(state.command.name);
    render();
  });
  const input = $("composer-input");
  input.addEventListener("input", () => {
    $("composer-error").textContent = "";
    if (input.value.startsWith("/")) showPopup(commandMatches(input.value), (entry) => chooseCommand(entry.value), "command");
    else hidePopup();
  });
  $("composer").addEventListener("submit", send);
  $("open-preview").addEventListener("click", togglePreview);
  $("preview-form").addEventListener("submit", (event) => { event.preventDefault(); showPreview(); });
  $("next-digest").addEventListener("click", nextDigest);
  $("composer").addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown") { moveSelection(1); event.preventDefault(); }
    else if (event.key === "ArrowUp") { moveSelection(-1); event.preventDefault(); }
    else if (event.key === "Tab" && state.popup.length) { pickSelected(); event.preventDefault(); }
    else if (event.key === "Escape") { if (state.popupFor) hidePopup(); else resetComposer(); }
    else if (event.key === "Backspace" && state.command && event.target.value === "" && !Object.keys(optionValues()).length) resetComposer();
  });
  render();
  poll();
}

main();
