// The web page of `cosyflow http` (GET /): streamed playback over the WebSocket door with Web
// Audio (each PCM frame is scheduled right after the previous one), or a whole WAV through
// POST /v1/audio/speech; shows first-audio time and RTF, draws the waveform, and adds a voice
// from a recording (POST /v1/voices).
//
// For tests and automation the page reports its state on <body data-state>: "idle" (voices
// loaded), "synthesizing", "playing", "ended" (the last sample has played), "error"; and
// window.cosyflowStats = {firstAudioMs, rtf, audioSeconds, chunks, mode} after each request.
#include "serving/web_page.h"

namespace cosyflow::serving {

std::string_view WebPageHtml() {
  return R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cosyflow</title>
<link rel="icon" href="data:,">
<style>
body{font:15px system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}
textarea{width:100%;height:7rem;font:inherit;box-sizing:border-box}
#stats{font-family:monospace;margin:.6rem 0;min-height:1.2em}
canvas{width:100%;height:120px;border:1px solid #ccc}
fieldset{margin-top:1rem;border:1px solid #ccc} input[type=text]{width:100%;box-sizing:border-box}
</style></head><body data-state="loading">
<h1>cosyflow</h1>
<textarea id="text" aria-label="Text to speak">Hello there, how are you today?</textarea>
<p><label>Voice <select id="voice"></select></label>
<label><input type="checkbox" id="stream" checked> stream</label>
<button id="speak">Speak</button> <button id="stop">Stop</button></p>
<div id="stats">loading voices...</div>
<canvas id="wave" width="900" height="120"></canvas>
<fieldset><legend>Add a voice (3-30 s recording and its transcript)</legend>
<p><label>Id <input type="text" id="vid" placeholder="alice"></label></p>
<p><label>Recording <input type="file" id="vfile" accept="audio/*"></label></p>
<p><label>Transcript <input type="text" id="vtext"></label></p>
<p><button id="vadd">Add voice</button> <span id="vstatus"></span></p></fieldset>
<script>
const $ = id => document.getElementById(id);
let ctx = null, ws = null, samples = [], playing = 0, received = false, gen = 0;
function setState(s) { document.body.dataset.state = s; }
function show(msg, state) { $('stats').textContent = msg; if (state) setState(state); }
async function loadVoices(select) {
  const r = await fetch('/v1/voices'); const j = await r.json(); $('voice').textContent = '';
  for (const v of j.data) {
    const o = document.createElement('option'); o.value = v.id;
    o.textContent = v.prompt_text ? `${v.id} - ${v.prompt_text}` : v.id; $('voice').appendChild(o);
  }
  if (select) $('voice').value = select;
}
loadVoices().then(() => show('ready', 'idle'), e => show(`cannot list voices: ${e}`, 'error'));
function draw() {
  const c = $('wave'), g = c.getContext('2d'); g.clearRect(0, 0, c.width, c.height);
  if (!samples.length) return;
  // Scaled to the peak, so quiet speech is visible too; the peak is printed in the corner.
  let peak = 0; for (const x of samples) peak = Math.max(peak, Math.abs(x));
  const k = peak > 0 ? 0.95 / peak : 1, step = Math.max(1, Math.floor(samples.length / c.width));
  g.beginPath();
  for (let x = 0; x < c.width && x * step < samples.length; x++) {
    let lo = 0, hi = 0;
    for (let i = x * step; i < Math.min(samples.length, (x + 1) * step); i++) { lo = Math.min(lo, samples[i]); hi = Math.max(hi, samples[i]); }
    g.moveTo(x, (1 - hi * k) * c.height / 2); g.lineTo(x, (1 - lo * k) * c.height / 2);
  }
  g.stroke(); g.fillText(`peak ${peak.toFixed(3)}, ${(samples.length / 1000).toFixed(0)}k samples`, 6, 14);
}
function pcmToFloat(buf) { const v = new Int16Array(buf), f = new Float32Array(v.length); for (let i = 0; i < v.length; i++) f[i] = v[i] / 32768; return f; }
// A buffer source that counts itself while it plays; the request has played to the end when
// its last message has come and no source is left.
function play(buffer, when, my) {
  const s = ctx.createBufferSource(); s.buffer = buffer; s.connect(ctx.destination);
  playing++; s.onended = () => { playing--; if (my === gen) maybeEnded(); };
  s.start(when); if (document.body.dataset.state === 'synthesizing') setState('playing');
}
function maybeEnded() { if (received && playing === 0 && document.body.dataset.state === 'playing') setState('ended'); }
function finish(stats, text) {
  window.cosyflowStats = stats; received = true; show(text); draw();
  if (playing === 0) setState(stats.audioSeconds > 0 ? 'ended' : 'error'); else maybeEnded();
}
function speakStream(my) {
  const t0 = performance.now(); let rate = 24000, next = 0, first = null, chunks = 0;
  ws = new WebSocket(`ws://${location.host}/v1/audio/speech/stream`); ws.binaryType = 'arraybuffer';
  ws.onopen = () => { ws.send(JSON.stringify({type: 'start', voice: $('voice').value}));
    ws.send(JSON.stringify({type: 'text', text: $('text').value})); ws.send(JSON.stringify({type: 'end'})); };
  ws.onerror = () => { if (my === gen && !received) { received = true; show('WebSocket error', 'error'); } };
  ws.onmessage = ev => {
    if (my !== gen) return;
    if (typeof ev.data !== 'string') {
      if (first === null) first = performance.now() - t0;
      const f = pcmToFloat(ev.data); for (const x of f) samples.push(x); chunks++;
      const b = ctx.createBuffer(1, f.length, rate); b.copyToChannel(f, 0);
      next = Math.max(next, ctx.currentTime + 0.05); play(b, next, my); next += b.duration;
      return;
    }
    const m = JSON.parse(ev.data);
    if (m.type === 'started') { rate = m.sample_rate; return; }
    if (m.type === 'done') {
      const t = m.timing;
      finish({firstAudioMs: first, serverFirstAudioMs: t.first_audio_ms, rtf: t.rtf, audioSeconds: t.audio_s, chunks, mode: 'stream'},
             `first audio ${first === null ? '-' : first.toFixed(0)} ms (server ${t.first_audio_ms.toFixed(1)} ms), RTF ${t.rtf.toFixed(3)}, ${t.audio_s.toFixed(2)} s audio in ${chunks} chunks`);
    } else if (m.type === 'cancelled') {
      received = true; show('cancelled', 'idle');
    } else if (m.type === 'error') {
      received = true; show(`error ${m.error.code}: ${m.error.message}`, 'error');
    }
  };
}
async function speakWhole(my) {
  const t0 = performance.now();
  const r = await fetch('/v1/audio/speech', {method: 'POST', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({model: 'cosyvoice2', input: $('text').value, voice: $('voice').value, response_format: 'wav'})});
  if (my !== gen) return;
  if (!r.ok) { const e = await r.json(); received = true; show(`error ${e.error.code}: ${e.error.message}`, 'error'); return; }
  const t = JSON.parse(r.headers.get('X-Cosyflow-Timing') || '{}');
  const audio = await ctx.decodeAudioData(await r.arrayBuffer());
  const whole = performance.now() - t0;
  samples = Array.from(audio.getChannelData(0));
  play(audio, ctx.currentTime, my);
  finish({firstAudioMs: whole, serverFirstAudioMs: t.first_audio_ms, rtf: t.rtf, audioSeconds: t.audio_s, chunks: t.chunks, mode: 'whole'},
         `first audio ${whole.toFixed(0)} ms (whole file; server ${t.first_audio_ms.toFixed(1)} ms), RTF ${t.rtf.toFixed(3)}, ${t.audio_s.toFixed(2)} s audio`);
}
function stopAll() {
  gen++; if (ws && ws.readyState <= 1) ws.send(JSON.stringify({type: 'cancel'}));
  if (ctx) { ctx.close(); ctx = null; } playing = 0;
}
$('speak').onclick = () => {
  stopAll(); const my = gen; ctx = new AudioContext(); samples = []; received = false; window.cosyflowStats = null;
  draw(); show('synthesizing...', 'synthesizing');
  (($('stream').checked) ? Promise.resolve(speakStream(my)) : speakWhole(my)).catch(e => { received = true; show(String(e), 'error'); });
};
$('stop').onclick = () => { stopAll(); show('stopped', 'idle'); };
$('vadd').onclick = async () => {
  const file = $('vfile').files[0], id = $('vid').value.trim();
  if (!file || !id) { $('vstatus').textContent = 'an id and a recording are needed'; return; }
  const bytes = new Uint8Array(await file.arrayBuffer()); let bin = '';
  for (let i = 0; i < bytes.length; i += 32768) bin += String.fromCharCode(...bytes.subarray(i, i + 32768));
  $('vstatus').textContent = 'adding...';
  const r = await fetch('/v1/voices', {method: 'POST', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({id, prompt_text: $('vtext').value, audio: btoa(bin)})});
  const j = await r.json();
  if (!r.ok) { $('vstatus').textContent = `error ${j.error.code}: ${j.error.message}`; return; }
  await loadVoices(j.id); $('vstatus').textContent = `added ${j.id} (${j.prompt_seconds.toFixed(1)} s)`;
};
</script></body></html>
)HTML";
}

}  // namespace cosyflow::serving
