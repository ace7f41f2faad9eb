// Moved to lib/local (the demo guests of `npm start -- --libvirt` are rendered the same way).
export * from '../../lib/local/guest-domain-xml.ts';
