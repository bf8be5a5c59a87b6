// The WCAG 2.1 contrast ratio of every text shown under the given roots, from computed styles (the browser test's
// measure). A text's colour is composited over the backgrounds of its ancestors from the page down, and the opacity
// of any ancestor fades both, as the browser paints them. Inactive controls (disabled buttons, inputs and menus)
// are exempt, as WCAG says; a disabled textarea is a read-only output and counts; an empty field's placeholder counts.
(roots) => {
  const parse = (css) => {
    const match = css && css.match(/rgba?\(([^)]+)\)/);
    if (!match) return null;
    const parts = match[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return [parts[0], parts[1], parts[2], parts.length > 3 ? parts[3] : 1];
  };
  const over = (top, bottom) => [0, 1, 2].map((i) => top[i] * top[3] + bottom[i] * (1 - top[3])).concat([1]);
  const mix = (a, b, t) => [0, 1, 2].map((i) => a[i] * t + b[i] * (1 - t)).concat([1]);
  const luminance = (colour) => {
    const [r, g, b] = colour.slice(0, 3).map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const hex = (colour) => '#' + colour.slice(0, 3).map((v) => Math.round(v).toString(16).padStart(2, '0')).join('');

  const measure = (element, colour) => {
    const chain = [];
    for (let e = element; e; e = e.parentElement) chain.unshift(e);
    let backdrop = [255, 255, 255, 1];
    const behind = [];
    for (const e of chain) {
      behind.push(backdrop);
      const background = parse(getComputedStyle(e).backgroundColor);
      if (background && background[3] > 0) backdrop = over(background, backdrop);
    }
    let text = over(parse(colour), backdrop);
    let back = backdrop;
    for (let i = chain.length - 1; i >= 0; i--) {
      const opacity = parseFloat(getComputedStyle(chain[i]).opacity);
      if (opacity < 1) {
        text = mix(text, behind[i], opacity);
        back = mix(back, behind[i], opacity);
      }
    }
    const [light, dark] = [luminance(text), luminance(back)].sort((p, q) => q - p);
    return { ratio: (light + 0.05) / (dark + 0.05), color: hex(text), background: hex(back) };
  };

  const shown = (e) => e.getClientRects().length > 0 && getComputedStyle(e).visibility === 'visible';
  const exempt = (e) => e.closest('button:disabled, input:disabled, select:disabled, style, script');
  const found = [];
  for (const root of roots) {
    for (const element of [root, ...root.querySelectorAll('*')]) {
      if (!shown(element) || exempt(element)) continue;
      let colour = getComputedStyle(element).color;
      let text;
      if (element.tagName === 'SELECT') {
        text = element.size > 1 || element.multiple ? '' : element.selectedOptions[0]?.text || '';
      } else if (element.tagName === 'INPUT' || element.tagName === 'TEXTAREA') {
        text = element.value;
        if (!text && element.placeholder) {
          text = element.placeholder;
          colour = getComputedStyle(element, '::placeholder').color;
        }
      } else {
        text = [...element.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE).map((n) => n.textContent).join('');
      }
      if (text.trim()) {
        found.push({ text: text.trim().slice(0, 60), tag: element.tagName.toLowerCase(), ...measure(element, colour) });
      }
    }
  }
  return found;
}
