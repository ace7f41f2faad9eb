import { readdirSync, readFileSync } from 'node:fs';

const DIR = new URL('../fixtures/diagnostics/', import.meta.url);

/** A console log from test/fixtures/diagnostics/ (README.md there names each one's source), as bytes. */
export const consoleFixture = (name: string): Buffer => readFileSync(new URL(name, DIR));
export const consoleFixtureNames = (): string[] => readdirSync(DIR).filter((f) => f.endsWith('.log')).sort();
