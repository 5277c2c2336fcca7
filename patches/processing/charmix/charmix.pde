/**
 * charmix: the daemon's broadcast drawn live in Processing (oscP5).
 *
 * Every character of the text is drawn in the colour of the model that wrote it (the argmax of
 * /charmix/attribution for its step); below it p_mix, then one row per model with its name, weight,
 * attribution, entropy and p_i. Drag a weight bar to move that model's target weight; drag with
 * the right button to make it negative (an anti-expert: the text is steered away from that model,
 * in the daemon's geometric mode). A negative weight is drawn the other way: an outlined bar
 * growing leftward from the right end of its track.
 *
 * Keys: UP/DOWN temperature, LEFT/RIGHT rate, p pause/resume, l/g linear/geometric mixing,
 * e equal weights, r reset, t tick. The keys step from what this sketch last sent (taken from
 * /charmix/status until it has sent something), so quick presses never repeat a stale value.
 *
 * oscP5 turns each byte of an OSC string into one char; utf8() rebuilds the daemon's UTF-8, so
 * characters such as ä or é arrive whole. The text view is built from /charmix/char, and each
 * /charmix/text (the daemon's current line) corrects its last line, e.g. after a /charmix/prime
 * or a lost datagram.
 *
 * It subscribes (/charmix/subscribe, renewed every 10 s; the daemon forgets a subscriber after
 * 30 s), so it works wherever the daemon's --send points. Needs the oscP5 library (Sketch > Import
 * Library > Add Library > oscP5). Addresses and ports follow the daemon's address table,
 * daemon/protocol/table.py; tests/test_patches.py checks this file against it.
 */

import oscP5.*;
import netP5.*;

// -- ports and addresses (daemon/protocol/table.py) ------------------------------------------------
final String DAEMON_HOST = "127.0.0.1";
final int CONTROL_PORT = 7770;  // the daemon listens here
final int LISTEN_PORT = 7771;   // this sketch listens here (the daemon's default --send)
final int RENEW_MS = 10000;     // subscription renewal, well inside the daemon's 30 s
final int DATAGRAM_SIZE = 4096; // oscP5 reads 1,536 bytes by default; the daemon sends <= 1,400

final String[] STATUS_FIELDS = {
  "step", "chars_per_s", "rate", "paused", "temperature", "mode", "topk", "topp", "rx_ok",
  "rx_bad", "rx_denied", "tx_datagrams", "tx_errors", "overruns", "subscribers", "uptime",
  "ticks_dropped", "step_errors", "ws_dropped", "masked_mass", "words_blocked", "mask_fallbacks"
};
final String[] MODES = {"linear", "geometric"};

// Model colours: charmix's one palette (daemon/protocol/palette.py; a test keeps this copy equal).
// The shipped models keep theirs by name; any other model takes EXTRA[its index].
final String[] NAMED = {"shakespeare", "austen", "nietzsche", "bible", "linux", "latex"};
final color[] NAMED_COLOURS = {#f2c14e, #ef6f9c, #a98bf5, #4fc3f7, #7bd96b, #ff8a3d};
final color[] EXTRA = {#e0e0e0, #4db6ac, #d4e157, #9fa8da, #e57373, #c9a27e};
final color UNKNOWN = #808080;
final int HISTORY = 6000;  // characters kept for the text view
final int LINE_MAX = 256;  // /charmix/text carries at most the line's last 256 characters

OscP5 osc;
NetAddress daemon;
PFont mono;

// -- state: written by oscEvent (oscP5's thread), read by draw(); guarded by `this` ------------
String[] models = new String[0];
String vocab = "";
float[] mix = new float[0];
float[][] dists = new float[0][];
float[] weights = new float[0];
float[] attribution = new float[0];
float[] entropy = new float[0];
float[] status = new float[0];
float[] target = new float[0];  // target weights this sketch sends
int step = -1;
int lastStep = -1;
int dropped = 0;     // gaps in /charmix/step
int unknown = 0;     // addresses not in the table
int badArgs = 0;     // known address, wrong arguments
int messages = 0;
StringBuilder text = new StringBuilder();
IntList writers = new IntList();  // model index per character of `text`, -1 = not known yet
int pending = -1;                 // position in `text` awaiting its attribution
int lastRenew = -RENEW_MS;
// what this sketch last sent (the keys step from these); NaN / -1 until status or a key sets them
float sentTemperature = Float.NaN;
float sentRate = Float.NaN;
int sentPaused = -1;

void setup() {
  size(1200, 780);
  surface.setTitle("charmix");
  mono = createFont("Monospaced", 15);
  OscProperties props = new OscProperties();
  props.setListeningPort(LISTEN_PORT);
  props.setDatagramSize(DATAGRAM_SIZE);
  osc = new OscP5(this, props);
  daemon = new NetAddress(DAEMON_HOST, CONTROL_PORT);
  OscMessage query = new OscMessage("/charmix/query");
  query.add(LISTEN_PORT);
  osc.send(query, daemon);  // models, vocabulary and status right away
}

// -- receiving ---------------------------------------------------------------------------------
public synchronized void oscEvent(OscMessage m) {
  messages++;
  String tags = m.typetag();
  String addr = m.addrPattern();
  if (m.checkAddrPattern("/charmix/char")) {
    if (!tags.equals("s")) { badArgs++; return; }
    String c = utf8(m.get(0).stringValue());
    if (c.length() == 0) { badArgs++; return; }
    text.append(c);
    for (int i = 0; i < c.length(); i++) writers.append(-1);
    pending = text.length() - 1;
    trimHistory();
  } else if (m.checkAddrPattern("/charmix/text")) {
    if (!tags.equals("s")) { badArgs++; return; }
    syncLine(utf8(m.get(0).stringValue()));
  } else if (m.checkAddrPattern("/charmix/step")) {
    if (!tags.equals("i")) { badArgs++; return; }
    step = m.get(0).intValue();
    if (lastStep >= 0 && step > lastStep + 1) dropped += step - lastStep - 1;
    lastStep = step;
  } else if (m.checkAddrPattern("/charmix/attribution")) {
    attribution = floats(m);
    if (pending >= 0 && pending < writers.size() && attribution.length > 0) {
      writers.set(pending, argmax(attribution));
      pending = -1;
    }
  } else if (m.checkAddrPattern("/charmix/dist")) {
    mix = floats(m);
  } else if (m.checkAddrPattern("/charmix/weights")) {
    weights = floats(m);
    if (target.length != weights.length) target = weights.clone();
  } else if (m.checkAddrPattern("/charmix/entropy")) {
    entropy = floats(m);
  } else if (m.checkAddrPattern("/charmix/models")) {
    String[] names = new String[tags.length()];
    for (int i = 0; i < names.length; i++) names[i] = utf8(m.get(i).stringValue());
    if (!java.util.Arrays.equals(names, models)) {
      models = names;
      dists = new float[names.length][];
    }
  } else if (m.checkAddrPattern("/charmix/vocab")) {
    if (!tags.equals("s")) { badArgs++; return; }
    vocab = utf8(m.get(0).stringValue());
  } else if (m.checkAddrPattern("/charmix/status")) {
    // Fields are only ever appended: a newer daemon may send more than this sketch knows.
    if (tags.length() < STATUS_FIELDS.length) { badArgs++; return; }
    status = floats(m);
    if (status.length >= STATUS_FIELDS.length) {  // the keys' starting point, until they send
      if (Float.isNaN(sentTemperature)) sentTemperature = statusOf("temperature", 0.8);
      if (Float.isNaN(sentRate)) sentRate = statusOf("rate", 15);
      if (sentPaused < 0) sentPaused = statusOf("paused", 0) > 0 ? 1 : 0;
    }
  } else if (m.checkAddrPattern("/charmix/index")) {
    // for number-only readers: this sketch reads /charmix/char
  } else if (addr.startsWith("/charmix/model/") && addr.endsWith("/dist")) {
    String name = addr.substring("/charmix/model/".length(), addr.length() - "/dist".length());
    int k = indexOf(models, name);
    if (k >= 0) dists[k] = floats(m);
  } else {
    unknown++;
  }
}

/** oscP5 makes one char of each byte of an OSC string: rebuild the bytes, decode them as UTF-8. */
String utf8(String s) {
  byte[] bytes = new byte[s.length()];
  for (int i = 0; i < bytes.length; i++) bytes[i] = (byte) s.charAt(i);
  try {
    return new String(bytes, "UTF-8");
  } catch (java.io.UnsupportedEncodingException e) {  // every JVM has UTF-8
    return s;
  }
}

/** /charmix/text is the daemon's current line (its last LINE_MAX characters): where the view's
 *  last line differs (a /charmix/prime, a lost datagram), take the daemon's. Characters that
 *  match keep their colour; the others are drawn as not known. */
void syncLine(String line) {
  int start = text.lastIndexOf("\n") + 1;
  int mine = text.length() - start;
  if (mine > line.length()) {
    int at = text.length() - line.length();
    if (line.length() < LINE_MAX && text.substring(at).equals(line)) {
      // the daemon started a new line without a newline (/charmix/reset): so does the view
      text.insert(at, '\n');
      writers.insert(at, -1);
      if (pending >= at) pending++;
      trimHistory();
      return;
    }
    start = at;  // compare with the part the daemon still sends
  }
  int same = 0;
  while (same < line.length() && start + same < text.length()
         && text.charAt(start + same) == line.charAt(same)) same++;
  if (same == line.length() && start + same == text.length()) return;  // the usual case
  int from = start + same;
  for (int i = text.length() - 1; i >= from; i--) writers.remove(i);
  text.setLength(from);
  text.append(line.substring(same));
  for (int i = same; i < line.length(); i++) writers.append(-1);
  if (pending >= from) pending = text.length() > from ? text.length() - 1 : -1;
  trimHistory();
}

void trimHistory() {
  if (text.length() <= HISTORY) return;
  int cut = text.length() - HISTORY;
  text.delete(0, cut);
  for (int i = 0; i < cut; i++) writers.remove(0);
  pending -= cut;
}

/** Each argument with floatValue(i): floatValues() truncates to ints in some oscP5 versions. */
float[] floats(OscMessage m) {
  String tags = m.typetag();
  float[] out = new float[tags.length()];
  for (int i = 0; i < out.length; i++) {
    if (tags.charAt(i) != 'f') { badArgs++; return new float[0]; }
    out[i] = m.get(i).floatValue();
  }
  return out;
}

int argmax(float[] v) {
  int best = 0;
  for (int i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

int indexOf(String[] names, String name) {
  for (int i = 0; i < names.length; i++) if (names[i].equals(name)) return i;
  return -1;
}

color modelColour(int k) {
  if (k < 0) return UNKNOWN;
  int named = k < models.length ? indexOf(NAMED, models[k]) : -1;
  return named >= 0 ? NAMED_COLOURS[named] : EXTRA[k % EXTRA.length];
}

float statusOf(String field, float otherwise) {
  int k = java.util.Arrays.asList(STATUS_FIELDS).indexOf(field);
  return k >= 0 && k < status.length ? status[k] : otherwise;
}

// -- drawing -----------------------------------------------------------------------------------
void draw() {
  if (millis() - lastRenew > RENEW_MS) {
    lastRenew = millis();
    OscMessage sub = new OscMessage("/charmix/subscribe");
    sub.add(LISTEN_PORT);
    osc.send(sub, daemon);
  }
  synchronized (this) {
    background(18);
    textFont(mono);
    drawHeader(20, 24);
    drawText(20, 44, width - 40, 12);
    drawBars("p_mix", mix, 20, 300, width - 40, 110, color(235));
    for (int k = 0; k < models.length; k++) drawModel(k, 20, 440 + k * rowHeight(), rowHeight() - 8);
    drawFooter(20, height - 14);
  }
}

int rowHeight() {
  return models.length > 0 ? min(62, 300 / models.length) : 62;
}

void drawHeader(float x, float y) {
  fill(200);
  textSize(14);
  String mode = MODES[constrain((int) statusOf("mode", 0), 0, MODES.length - 1)];
  text("charmix   step " + step + "   " + nf(statusOf("chars_per_s", 0), 0, 1) + " chars/s   T "
       + nf(statusOf("temperature", 0), 0, 2) + "   " + mode
       + (statusOf("paused", 0) > 0 ? "   PAUSED" : ""), x, y);
}

/** The last `rows` screen rows of text, each character in its writer's colour. */
void drawText(float x, float y, float w, int rows) {
  textSize(15);
  float cw = textWidth('m');
  int cols = max(10, (int) (w / cw));
  // Lay the history out in rows (newlines and wrapping), keep the last `rows`.
  IntList starts = new IntList();
  starts.append(0);
  int col = 0;
  for (int i = 0; i < text.length(); i++) {
    char c = text.charAt(i);
    if (c == '\n' || col == cols) {
      starts.append(c == '\n' ? i + 1 : i);
      col = c == '\n' ? 0 : 1;
    } else {
      col++;
    }
  }
  int first = max(0, starts.size() - rows);
  for (int r = first; r < starts.size(); r++) {
    int end = r + 1 < starts.size() ? starts.get(r + 1) : text.length();
    float cx = x;
    for (int i = starts.get(r); i < end; i++) {
      char c = text.charAt(i);
      if (c == '\n') break;
      fill(modelColour(writers.get(i)));
      text(c == '\t' ? ' ' : c, cx, y + (r - first + 1) * 20);
      cx += cw;
    }
  }
}

/** A distribution as bars, with its five likeliest characters. */
void drawBars(String label, float[] p, float x, float y, float w, float h, color c) {
  noStroke();
  fill(30);
  rect(x, y, w, h);
  if (p == null || p.length == 0) return;
  float bw = w / p.length;
  fill(c);
  for (int i = 0; i < p.length; i++) {
    float bh = constrain(p[i], 0, 1) * h;
    rect(x + i * bw, y + h - bh, max(1, bw - 1), bh);
  }
  fill(160);
  textSize(12);
  text(label + "   " + topChars(p, 5), x + 4, y + 14);
}

String topChars(float[] p, int n) {
  boolean[] used = new boolean[p.length];
  String out = "";
  for (int j = 0; j < min(n, p.length); j++) {
    int best = -1;
    for (int i = 0; i < p.length; i++) if (!used[i] && (best < 0 || p[i] > p[best])) best = i;
    used[best] = true;
    char c = best < vocab.length() ? vocab.charAt(best) : '?';
    String shown = c == '\n' ? "\\n" : c == ' ' ? "\u2423" : c == '\t' ? "\\t" : str(c);
    out += shown + " " + nf(p[best], 0, 2) + "   ";
  }
  return out;
}

void drawModel(int k, float x, float y, float h) {
  color c = modelColour(k);
  fill(c);
  textSize(14);
  text(models[k], x, y + 16);
  // weight bar: effective weight filled, target as a line; drag to set the target
  float bx = x, by = y + 24, bw = 200, bh = 12;
  noStroke();
  fill(45);
  rect(bx, by, bw, bh);
  fill(c);
  if (k < weights.length && weights[k] >= 0) rect(bx, by, bw * constrain(weights[k], 0, 1), bh);
  else if (k < weights.length) {  // an anti-expert: the other way, outlined
    float aw = bw * constrain(-weights[k], 0, 1);
    noFill();
    stroke(c);
    rect(bx + bw - aw, by, aw, bh - 1);
    noStroke();
  }
  if (k < target.length) {
    float tx = target[k] >= 0 ? bx + bw * target[k] : bx + bw * (1 + target[k]);
    stroke(target[k] >= 0 ? 240 : c);
    line(tx, by - 3, tx, by + bh + 3);
    noStroke();
  }
  fill(170);
  textSize(12);
  String a = k < attribution.length ? nf(attribution[k], 0, 2) : "-";
  String e = k < entropy.length ? nf(entropy[k], 0, 2) : "-";
  text("w " + (k < weights.length ? nf(weights[k], 0, 2) : "-") + "   attr " + a + "   H " + e
       + " bits", bx, by + bh + 14);
  drawBars("", k < dists.length ? dists[k] : null, x + 240, y, width - 40 - 240, h, c);
}

void drawFooter(float x, float y) {  // two lines: the sketch's own counters, then the daemon's
  fill(120);
  textSize(12);
  text("rx " + messages + " messages   dropped steps " + dropped + "   unknown " + unknown
       + "   bad args " + badArgs
       + "      keys: arrows T/rate  p pause  l/g mode  e equal  r reset  t tick", x, y - 16);
  text("daemon: rx_bad " + (int) statusOf("rx_bad", 0)
       + "  tx_errors " + (int) statusOf("tx_errors", 0) + "  overruns "
       + (int) statusOf("overruns", 0) + "  ticks_dropped " + (int) statusOf("ticks_dropped", 0)
       + "  step_errors " + (int) statusOf("step_errors", 0)
       + "  ws_dropped " + (int) statusOf("ws_dropped", 0)
       + "  words_blocked " + (int) statusOf("words_blocked", 0)
       + "  mask_fallbacks " + (int) statusOf("mask_fallbacks", 0)
       + "  subscribers " + (int) statusOf("subscribers", 0), x, y);
}

// -- control -----------------------------------------------------------------------------------
void send(String address, float value) {
  OscMessage m = new OscMessage(address);
  m.add(value);
  osc.send(m, daemon);
}

void sendBare(String address) {
  osc.send(new OscMessage(address), daemon);
}

void mouseDragged() {
  synchronized (this) {
    int k = (mouseY - 440) / rowHeight();
    if (mouseY < 440 || k >= target.length || mouseX > 240) return;
    float level = constrain((mouseX - 20) / 200.0, 0, 1);
    // right button: an anti-expert, measured from the track's right end (geometric mode only)
    target[k] = mouseButton == RIGHT ? -(1 - level) : level;
    OscMessage m = new OscMessage("/charmix/weights");
    for (float w : target) m.add(w);
    osc.send(m, daemon);
  }
}

void keyPressed() {
  float t, r;
  boolean paused;
  int n;
  synchronized (this) {  // this sketch's own last-sent values: status arrives only every 2 s
    t = Float.isNaN(sentTemperature) ? 0.8 : sentTemperature;
    r = Float.isNaN(sentRate) ? 15 : sentRate;
    paused = sentPaused > 0;
    n = target.length;
    if (keyCode == UP) t = sentTemperature = constrain(t + 0.05, 0.05, 5);
    else if (keyCode == DOWN) t = sentTemperature = constrain(t - 0.05, 0.05, 5);
    else if (keyCode == RIGHT) r = sentRate = constrain(max(r, 1) * 1.25, 0, 2000);
    else if (keyCode == LEFT) r = sentRate = constrain(r / 1.25, 0, 2000);
    else if (key == 'p') sentPaused = paused ? 0 : 1;
  }
  if (keyCode == UP || keyCode == DOWN) send("/charmix/temperature", t);
  else if (keyCode == RIGHT || keyCode == LEFT) send("/charmix/rate", r);
  else if (key == 'p') sendBare(paused ? "/charmix/resume" : "/charmix/pause");
  else if (key == 'r') sendBare("/charmix/reset");
  else if (key == 't') sendBare("/charmix/tick");
  else if (key == 'l' || key == 'g') {
    OscMessage m = new OscMessage("/charmix/mode");
    m.add(key == 'l' ? "linear" : "geometric");
    osc.send(m, daemon);
  } else if (key == 'e' && n > 0) {
    OscMessage m = new OscMessage("/charmix/weights");
    synchronized (this) {
      for (int i = 0; i < target.length; i++) {
        target[i] = 1.0 / target.length;
        m.add(target[i]);
      }
    }
    osc.send(m, daemon);
  }
}

void exit() {
  if (osc != null) {
    OscMessage m = new OscMessage("/charmix/unsubscribe");
    m.add(LISTEN_PORT);
    osc.send(m, daemon);
    osc.stop();
  }
  super.exit();
}
