// The webview's end of the host<->webview RPC: the project's RpcEndpoint over acquireVsCodeApi().postMessage.
import { RpcEndpoint } from '../../src/shared/rpc';
import type { Notifications, Protocol } from '../../src/shared/rpc';
import { vscodeApi } from './vscodeApi';

export function connectToHost<Remote extends Protocol, RemoteN extends Notifications>(): RpcEndpoint<Record<string, never>, Remote, Record<string, never>, RemoteN> {
  const api = vscodeApi();
  const rpc = new RpcEndpoint<Record<string, never>, Remote, Record<string, never>, RemoteN>((message) => api.postMessage(message), {});
  window.addEventListener('message', (event: MessageEvent<unknown>) => rpc.handle(event.data));
  return rpc;
}
