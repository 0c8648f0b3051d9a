/**
 * Page objects for the real VS Code workbench (code-server 4.100 = VS Code 1.100) driven by
 * playwright-core: the command palette, the Experiments tree, the status bar, editors and their
 * decorations, webview panels (two nested iframes), the Problems panel, context menus.
 * Selectors: ../shared/reference/vscode-offline (VS Code 1.100).
 */
const fs = require('fs');
const path = require('path');

class Workbench {
  /** @param {import('playwright-core').Page} page @param {string} shots folder of the step screenshots */
  constructor(page, shots) {
    this.page = page;
    this.shots = shots;
    this.shotCount = 0;
  }

  async waitReady(containerTitle) {
    await this.page.locator('.monaco-workbench').waitFor({ timeout: 90_000 });
    await this.page.locator(`.activitybar .action-item a[aria-label^="${containerTitle}"]`).waitFor({ timeout: 90_000 });
  }

  /**
   * Runs a command whose quick picks follow (New Experiment asks for the teacher and the student
   * export): accepts each pick's first item — the guess — once its title shows.
   */
  async commandWithPicks(title, pickTitles) {
    await this.command(title, { wait: false });
    for (const t of pickTitles) {
      await this.page.locator('.quick-input-widget .quick-input-title', { hasText: t }).waitFor({ state: 'visible', timeout: 30_000 });
      await this.page.keyboard.press('Enter');
    }
    await this.page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
  }

  /** Runs a command by its palette title (retries: the palette snapshots the command list when it opens). */
  async command(title, { wait = true } = {}) {
    const input = this.page.locator('.quick-input-widget .quick-input-box input');
    const row = this.page.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: title }).first();
    for (let attempt = 1; ; attempt++) {
      await this.page.keyboard.press('F1');
      await input.waitFor({ state: 'visible' });
      await input.fill('>' + title);
      try {
        await row.waitFor({ state: 'visible', timeout: 5000 });
        break;
      } catch (e) {
        if (attempt >= 6) throw e;
        await this.page.keyboard.press('Escape');
        await this.page.waitForTimeout(1000);
      }
    }
    await this.page.keyboard.press('Enter');
    if (wait) await this.page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
  }

  /** Opens a workspace file by name with Quick Open (Ctrl+P). */
  async openFile(name) {
    const input = this.page.locator('.quick-input-widget .quick-input-box input');
    await this.page.keyboard.press('Control+P');
    await input.waitFor({ state: 'visible' });
    await input.fill(name);
    await this.page.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: name }).first().waitFor();
    await this.page.keyboard.press('Enter');
    await this.page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
    await this.editorTab(name).waitFor();
    // commands act on the active editor: wait until it is this file's, with the keyboard focus
    await this.page.locator('.editor-group-container.active .tab.active', { hasText: name }).first().waitFor();
    await this.page.locator('.editor-group-container.active .monaco-editor.focused').first().waitFor();
  }

  editorTab(name) {
    return this.page.locator('.tabs-container .tab', { hasText: name }).first();
  }

  /** Focuses the editor of `name` (its tab) and returns its text area. */
  async focusEditor(name) {
    await this.editorTab(name).click();
    const editor = this.activeEditor();
    await this.page.locator('.editor-group-container.active .monaco-editor.focused').first().waitFor();
    await this.page.keyboard.press('Control+Home');
    return editor;
  }

  /** The visible text of the active editor (Monaco renders spaces as U+00A0). */
  async editorText() {
    return (await this.activeEditor().locator('.view-lines').innerText()).replace(/\u00a0/g, ' ');
  }

  activeEditor() {
    return this.page.locator('.editor-group-container.active .monaco-editor').first();
  }

  /** Texts of the after-decorations (inline loss charts) rendered in the active editor. */
  async afterDecorations() {
    return this.activeEditor().locator('.view-lines .cdr, .view-lines [class*="ced-"]').evaluateAll((els) =>
      els.map((e) => getComputedStyle(e, '::after').content).filter((c) => c && c !== 'none' && c !== 'normal'));
  }

  // ── side bar: the Experiments tree ──
  async showContainer(title) {
    const icon = this.page.locator(`.activitybar .action-item a[aria-label^="${title}"]`);
    const sidebarTitle = this.page.locator('.part.sidebar .composite.title', { hasText: new RegExp(title, 'i') });
    if (!(await sidebarTitle.isVisible())) await icon.click();
    await sidebarTitle.waitFor();
  }

  /** The first visible row of the sidebar's trees with this text (hidden views keep their rows in the DOM). */
  treeRow(text) {
    return this.page.locator('.part.sidebar .monaco-list-row[role="treeitem"]:visible', { hasText: text }).first();
  }

  /** Expands a collapsed tree row (an experiment shows its runs). */
  async expand(text) {
    const row = this.treeRow(text);
    await row.waitFor();
    // the twistie: a click on the row runs the item's command (opening the experiment) instead
    if ((await row.getAttribute('aria-expanded')) === 'false') await row.locator('.monaco-tl-twistie').click();
    await this.page.locator('.part.sidebar .monaco-list-row[role="treeitem"][aria-expanded="true"]', { hasText: text }).first().waitFor();
  }

  async treeTexts() {
    return this.page.locator('.part.sidebar .monaco-list-row[role="treeitem"]').allInnerTexts();
  }

  /** Right-clicks a tree row and picks a context-menu entry. */
  async treeContextMenu(rowText, entry) {
    await this.treeRow(rowText).click({ button: 'right' });
    const menu = this.page.locator('.context-view .monaco-menu');
    const item = menu.locator('.action-item', { hasText: entry }).first();
    await item.waitFor();
    // On a loaded machine the menu can still be laying itself out when the first click lands (the
    // click is then lost and the menu stays open): click until the menu closes, then Enter.
    for (let attempt = 1; attempt <= 3; attempt++) {
      await item.hover();
      await item.click();
      try {
        await menu.waitFor({ state: 'hidden', timeout: 3000 });
        return;
      } catch {
        if (attempt === 3) {
          await this.page.keyboard.press('Enter');
          await menu.waitFor({ state: 'hidden', timeout: 3000 });
        }
      }
    }
  }

  async contextMenuEntries(rowText) {
    await this.treeRow(rowText).click({ button: 'right' });
    const menu = this.page.locator('.context-view .monaco-menu');
    await menu.waitFor();
    const labels = await menu.locator('.action-label').allInnerTexts();
    await this.page.keyboard.press('Escape');
    return labels.map((s) => s.trim()).filter(Boolean);
  }

  // ── status bar ──
  statusItem(id) {
    return this.page.locator(`.statusbar-item[id="${id}"]`);
  }

  // ── webviews ──
  /** The content frame of the webview panel whose tab title starts with `tabTitle`. */
  webview(tabTitle) {
    // each webview is an iframe.webview in the overlay container; the visible (active) one is ready
    const outer = this.page.frameLocator('iframe.webview.ready:visible').first();
    return { tab: this.editorTab(tabTitle), frame: outer.frameLocator('iframe#active-frame') };
  }

  // ── Problems panel ──
  async problems() {
    await this.command('View: Focus Problems (Errors, Warnings, Infos)');
    const rows = this.page.locator('.part.panel .markers-panel .monaco-list-row');
    await rows.first().waitFor();
    return rows;
  }

  /** Saves a screenshot test-output/e2e/NN-name.png and returns its path. */
  async shot(name) {
    fs.mkdirSync(this.shots, { recursive: true });
    const file = path.join(this.shots, `${String(++this.shotCount).padStart(2, '0')}-${name}.png`);
    await this.page.screenshot({ path: file });
    return file;
  }
}

module.exports = { Workbench };
