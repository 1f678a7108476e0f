// The page of `emotrans serve`: choose a clip (upload or the example), type emotion names,
// POST /api/predict, draw one probability bar per name and each modality's contribution to
// its logit (logit = sum_m w_m * s_m; probability = sigmoid(logit)). No libraries, no network
// beyond this server.
"use strict";

const $ = (id) => document.getElementById(id);
let chosen = null; // the File to score
let info = null; // GET /api/info

function fmt(x, digits = 2) {
  const s = x.toFixed(digits);
  return x > 0 ? "+" + s : s.replace("-", "\u2212");
}

function show(el, on) { el.hidden = !on; }

function setStatus(text) { $("status").textContent = text; }

function setError(text) {
  $("error").textContent = text || "";
  show($("error"), Boolean(text));
}

function choose(file) {
  chosen = file;
  $("chosen").textContent = file
    ? `Chosen: ${file.name} (${(file.size / 1024).toFixed(0)} KiB)`
    : "No clip chosen.";
  const video = $("preview");
  if (video.src) URL.revokeObjectURL(video.src);
  if (file) {
    video.src = URL.createObjectURL(file);
    show(video, true);
  } else {
    video.removeAttribute("src");
    show(video, false);
  }
}

async function loadInfo() {
  const res = await fetch("/api/info");
  info = await res.json();
  const trained = info.trained_emotions.join(", ");
  const runName = info.run.split("/").filter(Boolean).pop();
  const source = info.embeddings.replace(/:(?:.*\/)?/, ":"); // a file source: its name only
  $("run-info").textContent =
    `Run ${runName}: ${info.model} model on ${info.modalities.join(", ")}; ` +
    `trained on ${trained}; new names through ${source}.`;
  $("run-info").title = info.run;
  if (!$("emotions").value) {
    $("emotions").value = [...info.trained_emotions, "bored", "proud"].join(", ");
  }
  const l = info.limits;
  $("limits").textContent =
    `Limits: ${l.max_upload_mb} MiB, ${l.max_seconds} s per clip, ` +
    `${l.max_emotions} names, ${l.workers} worker(s) and a queue of ${l.queue}.`;
  if (!info.can_extract) {
    setError("This run was trained on features that cannot be extracted from clips; " +
      "only /api/predict/features scores it.");
    $("score").disabled = true;
  }
}

function modalityColour(m) { return ["text", "audio", "vision"].includes(m) ? m : "text"; }

function renderLegend(result) {
  const legend = $("legend");
  legend.replaceChildren();
  if (!result.fusion_weights) {
    legend.textContent = "This model gives no per-modality scores.";
    return;
  }
  for (const [m, w] of Object.entries(result.fusion_weights)) {
    const item = document.createElement("span");
    item.dataset.modality = m;
    const key = document.createElement("span");
    key.className = `key ${modalityColour(m)}`;
    item.append(key, `${m} (fusion weight ${w.toFixed(2)})`);
    legend.append(item);
  }
}

function contributionBar(name, result, scale) {
  const bar = document.createElement("div");
  bar.className = "contrib";
  const axis = document.createElement("div");
  axis.className = "axis";
  bar.append(axis);
  const terms = [];
  let pos = 0, neg = 0;
  for (const m of Object.keys(result.contributions)) {
    const c = result.contributions[m][name];
    terms.push(`${m} ${fmt(c)}`);
    const seg = document.createElement("span");
    seg.className = `seg ${modalityColour(m)}`;
    seg.dataset.modality = m;
    seg.dataset.value = String(c);
    seg.title = `${m}: weight ${result.fusion_weights[m].toFixed(3)} x score ` +
      `${result.modality_scores[m][name].toFixed(3)} = ${c.toFixed(3)}`;
    const width = (Math.abs(c) / scale) * 50;
    if (c >= 0) {
      seg.style.left = `${50 + (pos / scale) * 50}%`;
      pos += c;
    } else {
      neg += -c;
      seg.style.left = `${50 - (neg / scale) * 50}%`;
    }
    seg.style.width = `${width}%`;
    bar.append(seg);
  }
  const logit = result.logits[name];
  const mark = document.createElement("span");
  mark.className = "logit";
  mark.style.left = `calc(${50 + (logit / scale) * 50}% - 1px)`;
  bar.append(mark);
  bar.setAttribute("role", "img");
  bar.setAttribute("aria-label", `${name} contributions: ${terms.join(", ")}; logit ${fmt(logit)}`);
  return bar;
}

function render(result, roundTrip) {
  $("result-clip").textContent = result.clip;
  const source = result.transcript_source;
  $("result-transcript").textContent = result.transcript || "(no words used)";
  const badge = $("result-transcript-source");
  badge.textContent = source === "automatic" ? "automatic (speech recognition)" : (source || "");
  badge.className = `badge ${source || ""}`;
  badge.hidden = !source;
  const duration = result.duration == null ? "" : `${result.duration.toFixed(1)} s clip; `;
  $("result-timing").textContent =
    `${duration}extraction and scoring ${result.seconds.toFixed(2)} s, ` +
    `server ${result.request_seconds.toFixed(2)} s, round trip ${roundTrip.toFixed(2)} s`;
  renderLegend(result);
  let scale = 1e-6;
  if (result.contributions) {
    for (const name of result.emotions) {
      let pos = 0, neg = 0;
      for (const m of Object.keys(result.contributions)) {
        const c = result.contributions[m][name];
        if (c >= 0) pos += c; else neg -= c;
      }
      scale = Math.max(scale, pos, neg, Math.abs(result.logits[name]));
    }
  }
  const trained = new Set(result.trained_emotions);
  const list = $("bars");
  list.replaceChildren();
  for (const name of result.ranking) {
    const p = result.probabilities[name];
    const li = document.createElement("li");
    li.dataset.emotion = name;
    li.dataset.probability = String(p);
    const label = document.createElement("span");
    label.className = "name";
    label.textContent = name;
    const meter = document.createElement("div");
    meter.className = "meter";
    meter.setAttribute("role", "meter");
    meter.setAttribute("aria-label", name);
    meter.setAttribute("aria-valuemin", "0");
    meter.setAttribute("aria-valuemax", "1");
    meter.setAttribute("aria-valuenow", String(p));
    meter.setAttribute("aria-valuetext", `${(100 * p).toFixed(1)}%`);
    const fill = document.createElement("div");
    fill.className = "fill";
    fill.style.width = `${100 * p}%`;
    meter.append(fill);
    const pct = document.createElement("span");
    pct.className = "pct";
    pct.textContent = `${(100 * p).toFixed(1)}%`;
    const kind = document.createElement("span");
    kind.className = `badge ${trained.has(name) ? "trained" : "new"}`;
    kind.textContent = trained.has(name) ? "trained" : "new (zero-shot)";
    li.append(label, meter, pct, kind);
    if (result.contributions) {
      li.append(contributionBar(name, result, scale));
      const logit = document.createElement("span");
      logit.className = "terms";
      logit.textContent = `logit ${fmt(result.logits[name])}`;
      li.append(logit);
    }
    list.append(li);
  }
  $("explain-note").textContent = result.contributions
    ? "Each bar's segments are the modalities' contributions to the logit (fusion weight x " +
      "the modality's score; right of the axis raises the probability, left lowers it); the " +
      "black mark is the logit, and the probability is its sigmoid."
    : "";
  show($("results"), true);
}

async function score(event) {
  event.preventDefault();
  setError("");
  if (!chosen) {
    setError("Choose a clip first (upload one, or use the example clip).");
    return;
  }
  const form = new FormData();
  form.append("clip", chosen, chosen.name);
  form.append("emotions", $("emotions").value);
  const transcript = $("transcript").value.trim();
  if (transcript) form.append("transcript", transcript);
  $("score").disabled = true;
  setStatus(`Scoring ${chosen.name}…`);
  const start = performance.now();
  try {
    const res = await fetch("/api/predict", { method: "POST", body: form });
    const body = await res.json().catch(() => ({ detail: res.statusText }));
    const roundTrip = (performance.now() - start) / 1000;
    if (!res.ok) {
      const retry = res.headers.get("Retry-After");
      setStatus("");
      setError(`${res.status}: ${body.detail}` + (retry ? ` (retry in ${retry} s)` : ""));
      return;
    }
    render(body, roundTrip);
    setStatus(`Scored ${body.clip} in ${roundTrip.toFixed(2)} s.`);
  } catch (err) {
    setStatus("");
    setError(`The request failed: ${err}`);
  } finally {
    $("score").disabled = info ? !info.can_extract : false;
  }
}

async function useExample() {
  setError("");
  const res = await fetch("/static/example.mp4");
  const blob = await res.blob();
  choose(new File([blob], "example.mp4", { type: "video/mp4" }));
}

$("clip").addEventListener("change", () => choose($("clip").files[0] || null));
$("example").addEventListener("click", () => useExample().catch((e) => setError(String(e))));
$("score-form").addEventListener("submit", score);
loadInfo().catch((e) => setError(`Cannot read /api/info: ${e}`));
