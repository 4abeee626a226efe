"""The aiming page: one HTML file, its script and its style, served by edge/aim/server.py.

The script long-polls ``/frame?after=SEQ``: each answer is one JPEG with, in its ``X-Aim-Frame``
header, what was found in that very frame (so boxes never lag the picture). It draws the picture,
the capture zone and each face's box on a canvas, and lists each face's width and verdict as text.
When the first frame with a face has been drawn, ``<body data-first-face>`` is set and the title
changes (what a test, or a screenshot tool, can wait for).
"""

from __future__ import annotations

# Box colours, also checked in the screenshot test: green passes the gate's rules, magenta does not,
# grey is outside the capture zone (a bystander); the zone is drawn in yellow.
COLOUR_OK = "#00ff00"
COLOUR_PROBLEM = "#ff00ff"
COLOUR_OUTSIDE = "#a0a0a0"
COLOUR_ZONE = "#ffff00"

HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<title>gate-edge aim</title>
<link rel="stylesheet" href="/aim.css">
</head>
<body>
<header><h1>Aiming view: gate <span id="gate"></span></h1>
<p id="status">waiting for the camera</p></header>
<canvas id="view" width="640" height="480"></canvas>
<section><h2>Faces in the last frame</h2><ol id="faces"></ol>
<p class="legend"><span class="ok">green</span>: passes the gate's rules;
<span class="problem">magenta</span>: in the capture zone but refused (the reason is shown);
<span class="outside">grey</span>: outside the capture zone (yellow); the traveller is the largest face in it.
Minimum face width: <span id="min-width"></span> px.</p></section>
<script src="/aim.js"></script>
</body>
</html>
"""

CSS = f"""body {{ font: 15px sans-serif; margin: 12px; background: #202020; color: #eee; }}
h1 {{ font-size: 20px; margin: 0 0 4px; }} h2 {{ font-size: 16px; }}
canvas {{ max-width: 100%; border: 1px solid #555; }}
.ok {{ color: {COLOUR_OK}; }} .problem {{ color: {COLOUR_PROBLEM}; }} .outside {{ color: {COLOUR_OUTSIDE}; }}
"""

_COLOURS = (f"const COLOURS = {{ok: '{COLOUR_OK}', problem: '{COLOUR_PROBLEM}', outside: '{COLOUR_OUTSIDE}', "
            f"zone: '{COLOUR_ZONE}'}};\n")

JS = "'use strict';\n" + _COLOURS + """const canvas = document.getElementById('view');
const ctx = canvas.getContext('2d');
const list = document.getElementById('faces');
const statusLine = document.getElementById('status');
let after = 0;

function colour(face) {
  if (!face.in_zone) return COLOURS.outside;
  return face.ok ? COLOURS.ok : COLOURS.problem;
}

function draw(bitmap, info) {
  if (canvas.width !== info.width || canvas.height !== info.height) {
    canvas.width = info.width;
    canvas.height = info.height;
  }
  ctx.drawImage(bitmap, 0, 0);
  const [zx0, zy0, zx1, zy1] = info.zone_px;
  ctx.setLineDash([8, 6]);
  ctx.lineWidth = 2;
  ctx.strokeStyle = COLOURS.zone;
  ctx.strokeRect(zx0 + 1, zy0 + 1, zx1 - zx0 - 2, zy1 - zy0 - 2);
  ctx.setLineDash([]);
  ctx.font = '14px sans-serif';
  ctx.textBaseline = 'bottom';
  list.replaceChildren();
  info.faces.forEach((face, i) => {
    const [x, y, w, h] = face.box;
    ctx.lineWidth = 3;
    ctx.strokeStyle = colour(face);
    ctx.strokeRect(x, y, w, h);
    const label = face.width_px + ' px: ' + face.verdict;
    // Below the box (above it at the bottom edge): a small face's label then rarely covers another's.
    const ty = y + h + 19 <= canvas.height ? y + h + 19 : Math.max(16, y - 2);
    ctx.fillStyle = 'rgba(0, 0, 0, 0.7)';
    ctx.fillRect(x, ty - 16, ctx.measureText(label).width + 6, 17);
    ctx.fillStyle = colour(face);
    ctx.fillText(label, x + 3, ty);
    const item = document.createElement('li');
    item.className = face.in_zone ? (face.ok ? 'ok' : 'problem') : 'outside';
    item.dataset.widthPx = String(face.width_px);
    item.dataset.verdict = face.verdict;
    item.textContent = 'face ' + (i + 1) + ': ' + face.width_px + ' px wide, ' + face.verdict +
      (face.traveller ? ' (the traveller)' : '');
    list.appendChild(item);
  });
  statusLine.textContent = 'camera ' + info.camera + ', ' + info.width + 'x' + info.height + ', ' +
    info.faces.length + ' face(s), detection ' + info.detect_ms + ' ms; stops in ' + info.seconds_left + ' s';
  if (info.faces.length && !document.body.dataset.firstFace) {
    document.body.dataset.firstFace = String(info.seq);
    document.title = 'gate-edge aim: faces in view';
  }
}

async function tick() {
  let wait = 50;
  try {
    const r = await fetch('/frame?after=' + after, {cache: 'no-store'});
    if (r.status === 200) {
      const info = JSON.parse(r.headers.get('X-Aim-Frame'));
      const bitmap = await createImageBitmap(await r.blob());
      after = info.seq;
      document.getElementById('gate').textContent = info.gate;
      document.getElementById('min-width').textContent = String(info.min_face_px);
      draw(bitmap, info);
      bitmap.close();
    } else if (r.status === 204) {
      const state = JSON.parse(r.headers.get('X-Aim-State'));
      statusLine.textContent = 'no new frame: camera ' + state.camera + (state.error ? ' (' + state.error + ')' : '');
    } else if (r.status === 410) {
      statusLine.textContent = 'the aiming view has stopped';
      document.body.dataset.stopped = '1';
      return;
    }
  } catch (e) {
    statusLine.textContent = 'cannot reach the aiming view: ' + e;
    wait = 1000;
  }
  setTimeout(tick, wait);
}
tick();
"""
