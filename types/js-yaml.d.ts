// js-yaml ships no types (they live in @types/js-yaml); this is the part the OpenAPI test uses.
declare module 'js-yaml' {
  export function load(text: string): unknown;
}
