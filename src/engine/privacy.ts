// onnxruntime-node's Linux build has telemetry on by default: every process that creates a session writes a
// device id and an event queue under ~/.cache/Microsoft/DeveloperTools/.onnxruntime/ (and would upload them
// when a network exists); the same code crashes the process (SIGSEGV) on command lines longer than about
// 29 KB. MechLens promises to stay offline, so telemetry is switched off for every process that runs the
// engine. onnxruntime reads the variable with getenv() when it loads, so this module runs for its side
// effect and every entry point (CLI, worker) imports it before anything that loads onnxruntime-node.
// In a worker thread `process.env` is a copy that does not reach getenv(): the extension host sets the
// variable in its own (real) environment before it starts the worker, and passes it explicitly as well.

/** The environment variables that keep onnxruntime quiet and offline. */
export const ORT_PRIVACY_ENV: Readonly<Record<string, string>> = { ORT_DISABLE_TELEMETRY: '1' };

/** Sets ORT_PRIVACY_ENV in `env` (by default this process' environment) and returns it. */
export function disableOrtTelemetry(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  Object.assign(env, ORT_PRIVACY_ENV);
  return env;
}

disableOrtTelemetry();
