/**
 * The webview side of the host ↔ webview protocol: `acquireVsCodeApi()` once, kept private here;
 * typed `post`, a message listener, the panel state (getState/setState) and the ready handshake.
 */
import type { HostToWebview, PanelTargetState, WebviewToHost } from '../../src/protocol/webviews';
import { isHostToWebview } from '../../src/protocol/webviews';
import { clearRestricted, showRestricted } from './trust';

interface VsCodeApi {
  postMessage(msg: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const api = acquireVsCodeApi();

export function post(msg: WebviewToHost): void {
  api.postMessage(msg);
}

export interface PanelState {
  target?: PanelTargetState;
  ui?: Record<string, unknown>;
}

export function getState(): PanelState {
  return (api.getState() as PanelState | undefined) ?? {};
}

export function setUiState(ui: Record<string, unknown>): void {
  api.setState({ ...getState(), ui: { ...getState().ui, ...ui } });
}

/** Listens to host messages (the target of `init` is kept for the serializer), then says `ready`. */
export function start(handler: (msg: HostToWebview) => void): void {
  window.addEventListener('message', (e: MessageEvent) => {
    const msg: unknown = e.data;
    if (!isHostToWebview(msg)) return;
    if (msg.type === 'init') {
      api.setState({ ...getState(), target: msg.target });
      clearRestricted();
    }
    // Restricted Mode: the same banner and trust button in every panel
    if (msg.type === 'restricted') showRestricted(msg.message, post);
    else handler(msg);
  });
  post({ type: 'ready' });
}
