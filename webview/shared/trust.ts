/**
 * Restricted Mode in a panel: when the host could not show models because the workspace is not
 * trusted, a banner at the top says why, with a button that asks the host to open VS Code's trust
 * dialog. The next `init` (sent once trust is granted) removes it.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import type { WebviewToHost } from '../../src/protocol/webviews';
import { h } from './dom';

const ID = 'restricted';

export function showRestricted(message: string, post: (msg: WebviewToHost) => void): void {
  document.getElementById(ID)?.remove();
  const banner = h('div', { id: ID, class: 'notice restricted', role: 'alert' },
    h('span', { class: 'restricted-message' }, message), ' ',
    h('vscode-button', { id: 'trust-folder', onclick: () => post({ type: 'manageTrust' }) }, 'Trust Folder…'));
  document.body.prepend(banner);
}

export function clearRestricted(): void {
  document.getElementById(ID)?.remove();
}
