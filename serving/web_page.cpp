// The web page of `cosyflow http` (GET /): streamed playback over the WebSocket door with Web
// Audio (each PCM frame is scheduled right after the previous one), or a whole WAV through
// POST /v1/audio/speech; shows first-audio time and RTF, and draws the waveform.
#include "serving/web_page.h"

namespace cosyflow::serving {

std::string_view WebPageHtml() {
  return R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cosyflow</title>
<style>
body{font:15px system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}
textarea{width:100%;height:7rem;font:inherit}
#stats{font-family:monospace;margin:.6rem 0}
canvas{width:100%;height:120px;border:1px solid #ccc}
</style></head><body>
<h1>cosyflow</h1>
<textarea id="text">Hello there, how are you today?</textarea>
<p><label>Voice <select id="voice"></select></label>
<label><input type="checkbox" id="stream" checked> stream</label>
<button id="speak">Speak</button> <button id="stop">Stop</button></p>
<div id="stats">ready</div>
<canvas id="wave" width="900" height="120"></canvas>
<script>
const $ = id => document.getElementById(id);
let ctx = null, ws = null, samples = [];
fetch('/v1/voices').then(r => r.json()).then(j => {
  for (const v of j.data) { const o = document.createElement('option'); o.value = o.textContent = v.id; $('voice').appendChild(o); }
});
function draw() {
  const c = $('wave'), g = c.getContext('2d'); g.clearRect(0, 0, c.width, c.height);
  if (!samples.length) return;
  const step = Math.max(1, Math.floor(samples.length / c.width)); g.beginPath();
  for (let x = 0; x < c.width; x++) {
    let lo = 0, hi = 0;
    for (let i = x * step; i < Math.min(samples.length, (x + 1) * step); i++) { lo = Math.min(lo, samples[i]); hi = Math.max(hi, samples[i]); }
    g.moveTo(x, (1 - hi) * c.height / 2); g.lineTo(x, (1 - lo) * c.height / 2);
  }
  g.stroke();
}
function pcmToFloat(buf) { const v = new Int16Array(buf), f = new Float32Array(v.length); for (let i = 0; i < v.length; i++) f[i] = v[i] / 32768; return f; }
function speakStream() {
  const t0 = performance.now(); let rate = 24000, next = 0, first = null;
  ws = new WebSocket(`ws://${location.host}/v1/audio/speech/stream`); ws.binaryType = 'arraybuffer';
  ws.onopen = () => { ws.send(JSON.stringify({type: 'start', voice: $('voice').value}));
    ws.send(JSON.stringify({type: 'text', text: $('text').value})); ws.send(JSON.stringify({type: 'end'})); };
  ws.onmessage = ev => {
    if (typeof ev.data === 'string') {
      const m = JSON.parse(ev.data);
      if (m.type === 'started') rate = m.sample_rate;
      else if (m.type === 'done') $('stats').textContent = `first audio ${first.toFixed(0)} ms (client), server ${m.timing.first_audio_ms.toFixed(1)} ms, RTF ${m.timing.rtf.toFixed(3)}, ${m.timing.audio_s.toFixed(2)} s audio`;
      else $('stats').textContent = JSON.stringify(m);
      draw(); return;
    }
    if (first === null) first = performance.now() - t0;
    const f = pcmToFloat(ev.data); samples.push(...f);
    const b = ctx.createBuffer(1, f.length, rate); b.copyToChannel(f, 0);
    const s = ctx.createBufferSource(); s.buffer = b; s.connect(ctx.destination);
    next = Math.max(next, ctx.currentTime + 0.05); s.start(next); next += b.duration;
  };
}
async function speakWhole() {
  const t0 = performance.now();
  const r = await fetch('/v1/audio/speech', {method: 'POST', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({model: 'cosyvoice2', input: $('text').value, voice: $('voice').value, response_format: 'wav'})});
  if (!r.ok) { $('stats').textContent = await r.text(); return; }
  const timing = JSON.parse(r.headers.get('X-Cosyflow-Timing') || '{}');
  const audio = await ctx.decodeAudioData(await r.arrayBuffer());
  samples = Array.from(audio.getChannelData(0)); draw();
  const s = ctx.createBufferSource(); s.buffer = audio; s.connect(ctx.destination); s.start();
  $('stats').textContent = `whole body in ${(performance.now() - t0).toFixed(0)} ms, server first audio ${timing.first_audio_ms} ms, RTF ${timing.rtf}`;
}
$('speak').onclick = () => { ctx = ctx || new AudioContext(); samples = []; $('stats').textContent = 'synthesizing...';
  if ($('stream').checked) speakStream(); else speakWhole(); };
$('stop').onclick = () => { if (ws && ws.readyState === 1) ws.send(JSON.stringify({type: 'cancel'})); if (ctx) { ctx.close(); ctx = null; } };
</script></body></html>
)HTML";
}

}  // namespace cosyflow::serving
