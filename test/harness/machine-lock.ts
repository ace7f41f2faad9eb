// Moved to lib/local (the demo's `npm start -- --libvirt` takes the same turns as the system tests).
export * from '../../lib/local/libvirt-machine-lock.ts';
