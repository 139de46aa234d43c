// edgekit web sample: load a hand-off folder's .task with @mediapipe/tasks-genai and stream
// answers in Gemma's chat format. State is mirrored on window.edgekitState for tests.
import {FilesetResolver, LlmInference} from './lib/genai_bundle.mjs';

const params = new URLSearchParams(location.search);
const statusLine = document.getElementById('status');
const output = document.getElementById('output');
const send = document.getElementById('send');
const promptBox = document.getElementById('prompt');
const state = (window.edgekitState = {phase: 'starting', message: '', output: '', webgpu: null, loadAttempts: 0});
let llm = null;
let config = null;

function setStatus(phase, message) {
  state.phase = phase;
  state.message = message;
  statusLine.textContent = message;
  statusLine.className = phase === 'error' ? 'error' : phase === 'ready' || phase === 'done' ? 'ready' : '';
}

function fail(message) {
  setStatus('error', message);
  send.disabled = true;
}

// Gemma has no system role; the hand-off config carries the turn markers.
function gemmaPrompt(text) {
  if (params.has('raw')) return text;
  const chat = config.chat_format;
  return chat.user_prefix + text + chat.user_suffix + chat.model_prefix;
}

async function generate(text) {
  send.disabled = true;
  output.textContent = '';
  state.output = '';
  setStatus('generating', 'Generating…');
  const started = performance.now();
  let pieces = 0;
  await llm.generateResponse(gemmaPrompt(text), (partial, done) => {
    output.textContent += partial;
    state.output += partial;
    pieces += 1;
    if (!done) setStatus('generating', `Generating… ${pieces} pieces`);
  });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  setStatus('done', `Done in ${seconds} s.`);
  send.disabled = false;
}

// MediaPipe's loader tees the download to sniff the model's format, and the tee can fail when the
// download ends while it sniffs ("Cannot close an errored readable stream", seen with the tests'
// tiny bundle). A small bundle is therefore fetched whole and handed over as bytes; a large one
// streams, so the page never holds a second copy of it.
const WHOLE_BELOW_BYTES = 64 * 1024 * 1024;

async function modelSource(url) {
  const head = await fetch(url, {method: 'HEAD'});
  const size = Number(head.headers.get('Content-Length') ?? Infinity);
  if (!head.ok || !(size < WHOLE_BELOW_BYTES)) return {modelAssetPath: url};
  return {modelAssetBuffer: new Uint8Array(await (await fetch(url)).arrayBuffer())};
}

async function main() {
  const configUrl = params.get('config') ?? 'models/edgekit-app.json';
  setStatus('config', 'Reading the model configuration…');
  const response = await fetch(configUrl);
  if (!response.ok) return fail(`Cannot read ${configUrl} (HTTP ${response.status}): run edgekit handoff and serve its folder as models/.`);
  config = await response.json();
  const model = params.get('model') ?? config.task_model;
  if (!model) return fail('The hand-off folder has no .task bundle: convert with --target web or android.');

  if (!navigator.gpu) {
    state.webgpu = false;
    return fail('WebGPU is not available in this browser. Use a recent Chrome or Edge (or enable WebGPU).');
  }
  const adapter = await navigator.gpu.requestAdapter();
  state.webgpu = Boolean(adapter);
  if (!adapter) return fail('WebGPU is present but found no GPU adapter on this device.');

  setStatus('wasm', 'Starting the inference runtime…');
  const genai = await FilesetResolver.forGenAiTasks(new URL('wasm', location.href).href);
  state.wasm = true;
  const options = {
    baseOptions: await modelSource(`models/${model}`),
    maxTokens: Number(params.get('maxTokens') ?? config.max_tokens),
    topK: Number(params.get('topK') ?? config.top_k),
    temperature: Number(params.get('temperature') ?? config.temperature),
    randomSeed: config.random_seed,
    // Gemma 3 270M fails after prefill in F16 on WebGPU (DetokenizerCalculator id -1); F32 works.
    forceF32: true,
  };
  // A download cut off mid-stream is worth one more try; a bad bundle fails the same way twice
  // and is reported.
  for (state.loadAttempts = 1; ; state.loadAttempts += 1) {
    setStatus('loading', `Loading ${model}…${state.loadAttempts > 1 ? ' (retrying an interrupted download)' : ''}`);
    try {
      llm = await LlmInference.createFromOptions(genai, options);
      break;
    } catch (error) {
      const message = `${error.message ?? error}`;
      if (state.loadAttempts >= 2 || !/stream|network|fetch/i.test(message)) {
        return fail(`The model failed to load: ${message}`);
      }
    }
  }
  setStatus('ready', `Ready: ${model}`);
  send.disabled = false;
  if (params.has('prompt')) {
    promptBox.value = params.get('prompt');
    await generate(params.get('prompt'));
  }
}

document.getElementById('form').addEventListener('submit', (event) => {
  event.preventDefault();
  generate(promptBox.value).catch((error) => fail(`Generation failed: ${error.message ?? error}`));
});
// Some load failures surface only as uncaught errors: show them instead of hanging.
window.addEventListener('error', (event) => fail(`Error: ${event.message}`));
window.addEventListener('unhandledrejection', (event) => fail(`Error: ${event.reason?.message ?? event.reason}`));
main().catch((error) => fail(`Error: ${error.message ?? error}`));
