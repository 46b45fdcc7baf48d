/**
 * The concrete Host aliases of an OpenSSH client config (`Host a b` lines; patterns with `*`, `?`
 * or `!` skipped): what a person can name as an ssh target. Include files are not followed.
 */
export function sshConfigHosts(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    const m = /^host(?:\s*=\s*|\s+)(.*)$/i.exec(line);
    if (!m) continue;
    for (const word of m[1].split(/\s+/)) {
      const alias = word.replace(/^"(.*)"$/, '$1');
      if (!alias || alias.startsWith('#')) break;
      if (/[*?!]/.test(alias) || out.includes(alias)) continue;
      out.push(alias);
    }
  }
  return out;
}
