// Moved to lib/local (the demo guests of `npm start -- --libvirt` boot the same shell).
export * from '../../lib/local/busybox-shell-initramfs.ts';
