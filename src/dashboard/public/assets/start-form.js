// @ts-check
// The start form of a plan, generated from its declared parameters (GET …/plans/<plan>/parameters):
// required fields marked, defaults filled, enums as selects, secrets as password fields, and the
// API's 400 problems shown beside the fields they are about.
import { h } from './dom.js';

/**
 * @typedef {{ name: string, required: boolean, secret: boolean, default?: string, enum?: string[], pattern?: string, description?: string }} Parameter
 * @typedef {{ plan: string, description: string, parameters: Parameter[], requireOneOf: string[][] }} Declarations
 * @typedef {{ status: number, body: any }} StartAnswer
 */

/** @param {Parameter} p @param {string | undefined} given */
function input(p, given) {
  const common = { id: `param-${p.name}`, name: p.name, 'aria-describedby': `help-${p.name} error-${p.name}`, 'aria-required': p.required ? 'true' : undefined };
  if (p.enum !== undefined) {
    const options = p.enum.map((value) => h('option', { value, selected: value === (given ?? p.default) }, value));
    const blank = p.default === undefined ? h('option', { value: '', selected: true }, p.required ? '— choose —' : '(none)') : null;
    return h('select', common, blank, options);
  }
  return h('input', {
    ...common,
    type: p.secret ? 'password' : 'text',
    autocomplete: p.secret ? 'new-password' : 'off',
    spellcheck: 'false',
    value: given ?? p.default ?? '',
    title: p.pattern === undefined ? undefined : `must match ${p.pattern}`,
  });
}

/**
 * Builds the form. `submit` posts the values and returns the API's answer; the form shows what it says.
 * @param {Declarations} declarations
 * @param {(values: Record<string, string>) => Promise<StartAnswer>} submit
 * @param {(runId: string) => void} started
 * @param {Record<string, string>} [prefill] values to start from instead of the defaults
 */
export function startForm(declarations, submit, started, prefill = {}) {
  const general = h('div', { class: 'form-problems', role: 'alert' });
  const fields = declarations.parameters.map((p) =>
    h(
      'div',
      { class: 'field', 'data-parameter': p.name },
      h('label', { for: `param-${p.name}` }, p.name, p.required ? h('span', { class: 'required', title: 'required' }, ' *') : null, p.secret ? h('span', { class: 'secret-note' }, ' (secret)') : null),
      input(p, Object.hasOwn(prefill, p.name) ? prefill[p.name] : undefined),
      h('div', { class: 'help', id: `help-${p.name}` }, p.description ?? ''),
      h('div', { class: 'field-error', id: `error-${p.name}`, 'data-error-for': p.name }),
    ),
  );
  const groups =
    declarations.requireOneOf.length === 0
      ? null
      : h('p', { class: 'hint' }, `Give at least one of: ${declarations.requireOneOf.map((g) => g.join(' + ')).join(', or ')}.`);
  const button = h('button', { type: 'submit', class: 'primary' }, `Start ${declarations.plan}`);
  const form = /** @type {HTMLFormElement} */ (
    h('form', { id: 'start-form', novalidate: true, 'aria-label': `start ${declarations.plan}` }, groups, fields, general, h('div', { class: 'form-actions' }, button))
  );

  const clear = () => {
    general.replaceChildren();
    for (const el of form.querySelectorAll('.field-error')) el.replaceChildren();
    for (const el of form.querySelectorAll('.invalid')) el.classList.remove('invalid');
  };

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clear();
    /** @type {Record<string, string>} */
    const values = {};
    for (const p of declarations.parameters) {
      const el = /** @type {HTMLInputElement | HTMLSelectElement} */ (form.elements.namedItem(p.name));
      if (el.value !== '') values[p.name] = el.value;
    }
    button.setAttribute('disabled', '');
    try {
      const answer = await submit(values);
      if (answer.status === 200) {
        general.append(h('p', { class: 'ok' }, answer.body.message));
        for (const p of declarations.parameters) if (p.secret) /** @type {HTMLInputElement} */ (form.elements.namedItem(p.name)).value = '';
        started(answer.body.runId);
        return;
      }
      showProblems(form, general, answer);
    } catch (error) {
      general.append(h('p', { class: 'error' }, error instanceof Error ? error.message : String(error)));
    } finally {
      button.removeAttribute('disabled');
    }
  });
  return form;
}

/** @param {HTMLFormElement} form @param {HTMLElement} general @param {StartAnswer} answer */
function showProblems(form, general, answer) {
  const body = answer.body ?? {};
  /** @type {Array<{ parameter: string, message: string }>} */
  const problems = Array.isArray(body.problems) ? body.problems : [];
  const elsewhere = [];
  for (const problem of problems) {
    const slot = form.querySelector(`[data-error-for="${CSS.escape(problem.parameter)}"]`);
    if (slot === null) {
      elsewhere.push(`${problem.parameter} ${problem.message}`);
      continue;
    }
    slot.append(h('div', {}, `${problem.parameter} ${problem.message}`));
    slot.closest('.field')?.classList.add('invalid');
  }
  const summary = answer.status === 409 && typeof body.runId === 'string' ? `${body.message} (active run ${body.runId})` : (body.message ?? `HTTP ${answer.status}`);
  general.append(h('p', { class: 'error' }, summary));
  if (elsewhere.length > 0) general.append(h('ul', {}, elsewhere.map((text) => h('li', {}, text))));
  form.querySelector('.invalid input, .invalid select')?.focus();
}
