// Keyboard flow of the review console (no framework, no network beyond the console itself).
"use strict";

function typing(el) {
  return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable);
}

function go(link) {
  if (link) window.location.href = link.href || link;
}

function queueKeys(event) {
  const rows = Array.from(document.querySelectorAll("#queue tbody tr"));
  let current = rows.findIndex((r) => r.classList.contains("current"));
  const move = (step) => {
    if (!rows.length) return;
    if (current >= 0) rows[current].classList.remove("current");
    current = Math.min(Math.max(current + step, 0), rows.length - 1);
    rows[current].classList.add("current");
    rows[current].scrollIntoView({block: "nearest"});
  };
  switch (event.key) {
    case "j": move(1); return true;
    case "k": move(-1); return true;
    case "Enter": case "o": if (current >= 0) go(rows[current].dataset.href); return current >= 0;
    case "n": go(document.getElementById("next-pending")); return true;
    case "x": document.getElementById("export-form").requestSubmit(); return true;
  }
  return false;
}

function itemKeys(event) {
  const form = document.getElementById("verdict-form");
  const reviewer = document.getElementById("reviewer");
  const boxes = Array.from(form.querySelectorAll("input[name=violations]"));
  const submit = (id) => {
    if (!reviewer.value.trim()) { reviewer.focus(); return; }
    form.requestSubmit(document.getElementById(id));
  };
  const box = boxes.find((b) => b.dataset.key === event.key);
  if (box) { box.checked = !box.checked; return true; }
  switch (event.key) {
    case "a": boxes.forEach((b) => { b.checked = false; }); submit("allow"); return true;
    case "v": submit("violates"); return true;
    case "e": boxes.forEach((b) => { b.checked = false; }); submit("escalate"); return true;
    case "n": document.getElementById("note").focus(); return true;
    case "j": case "]": go(document.getElementById("next")); return true;
    case "k": case "[": go(document.getElementById("previous")); return true;
  }
  return false;
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (typing(event.target)) {
    if (event.key === "Escape") event.target.blur();
    return;
  }
  const page = document.body.dataset.page;
  let handled = false;
  if (event.key === "?") {
    const help = document.getElementById("help");
    help.hidden = !help.hidden;
    handled = true;
  } else if (event.key === "q") { go("/queue"); handled = true; }
  else if (event.key === "d") { go("/dashboard"); handled = true; }
  else if (page === "queue") handled = queueKeys(event);
  else if (page === "item") handled = itemKeys(event);
  if (handled) event.preventDefault();
});

document.addEventListener("DOMContentLoaded", () => {
  const toggle = document.getElementById("help-toggle");
  if (toggle) toggle.addEventListener("click", () => { const h = document.getElementById("help"); h.hidden = !h.hidden; });
  const first = document.querySelector("#queue tbody tr.pending") || document.querySelector("#queue tbody tr");
  if (first) first.classList.add("current");
});
