// Whether the kernel can make an ipip device itself: then felix uses a real tunl0, else the userspace datapath.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';

const PROBE_TIMEOUT_MS = 5000;

/**
 * True when `ip link add … type ipip` works on this kernel. First /sys/module/ipip: present when the module is
 * loaded or built in (it has parameters), which settles it with no process started. Otherwise the kernel is asked to
 * create one in a throwaway network namespace (`unshare --net ip link add … type ipip`); that also loads the
 * module if it is installed but not yet loaded, exactly as the real `ip link add` would, and the namespace, with the
 * device, is gone when the command exits: nothing is left in any namespace that matters. Needs root (CAP_SYS_ADMIN
 * for unshare); without it, or without unshare, the answer is false.
 */
export async function kernelIpipAvailable(): Promise<boolean> {
  if (fs.existsSync('/sys/module/ipip')) return true;
  return new Promise((resolve) => {
    execFile(
      'unshare',
      ['--net', 'ip', 'link', 'add', 'tabbyprobe', 'type', 'ipip'],
      { timeout: PROBE_TIMEOUT_MS },
      (err) => resolve(err === null),
    );
  });
}
