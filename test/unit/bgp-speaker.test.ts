// Two tabby speakers in one process, on loopback addresses (no root): sessions come up whichever side
// connects first, routes flow both ways, a misconfigured peer says why it is down.
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { parseSpeakerConfig, type SpeakerConfig } from '../../bgp/config';
import { BgpSpeaker } from '../../bgp/speaker';
import { waitFor } from '../support/wait';

async function freePort(host: string): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface Side {
  address: string;
  asNumber: number;
  port: number;
  originate: string[];
  peerOverrides?: Record<string, unknown>;
  passive?: boolean;
}

function configFor(me: Side, other: Side): SpeakerConfig {
  return parseSpeakerConfig(
    JSON.stringify({
      asNumber: me.asNumber,
      routerId: me.address,
      listen: { address: me.address, port: me.port },
      peers: [
        {
          address: other.address,
          asNumber: other.asNumber,
          port: other.port,
          connectRetryTime: 1,
          passive: me.passive ?? false,
          ...(me.peerOverrides ?? {}),
        },
      ],
      originate: me.originate,
    }),
    'test.yaml',
  );
}

async function pair(a: Omit<Side, 'port'>, b: Omit<Side, 'port'>) {
  const sideA = { ...a, port: await freePort(a.address) };
  const sideB = { ...b, port: await freePort(b.address) };
  const speakerA = new BgpSpeaker(configFor(sideA, sideB));
  const speakerB = new BgpSpeaker(configFor(sideB, sideA));
  await speakerA.start();
  await speakerB.start();
  return {
    a: speakerA,
    b: speakerB,
    stop: async () => {
      await speakerA.stop();
      await speakerB.stop();
    },
  };
}

describe('BGP speaker sessions on loopback', () => {
  it('both sides connect: the collision is resolved into one session and routes flow both ways', async () => {
    const { a, b, stop } = await pair(
      { address: '127.0.0.2', asNumber: 64512, originate: ['10.65.0.0/26', '10.65.0.64/26'] },
      { address: '127.0.0.3', asNumber: 64513, originate: ['10.66.0.0/26'] },
    );
    try {
      await waitFor(
        () => a.status().peers[0]?.state === 'Established' && b.status().peers[0]?.state === 'Established',
        'Established',
      );
      await waitFor(() => a.status().rib.prefixes === 3 && b.status().rib.prefixes === 3, 'both RIBs hold 3 prefixes');
      const fromB = a.status().peers[0]!;
      assert.equal(fromB.prefixesReceived, 1);
      assert.equal(fromB.prefixesAccepted, 1);
      assert.equal(fromB.prefixesAdvertised, 2);
      // Withdrawing an originated prefix reaches the peer.
      a.setOriginated(['10.65.0.0/26']);
      await waitFor(() => b.status().rib.prefixes === 2, 'withdrawal propagated');
    } finally {
      await stop();
    }
  });

  it('a passive side waits for the active one (Calico mesh, one-way)', async () => {
    const { a, b, stop } = await pair(
      { address: '127.0.0.4', asNumber: 64512, originate: ['10.65.1.0/26'], passive: true },
      { address: '127.0.0.5', asNumber: 64512, originate: [] },
    );
    try {
      assert.match(a.status().peers[0]!.info, /passive/);
      await waitFor(() => b.status().rib.prefixes === 1, 'iBGP route from the passive side');
    } finally {
      await stop();
    }
  });

  it('a wrong peer AS is refused with an OPEN error both sides can read', async () => {
    const { a, b, stop } = await pair(
      { address: '127.0.0.6', asNumber: 64512, originate: [], peerOverrides: { asNumber: 65099 } },
      { address: '127.0.0.7', asNumber: 64513, originate: [] },
    );
    try {
      await waitFor(
        () => /Bad peer AS|peer AS 64513 is not the configured 65099/.test(a.status().peers[0]!.info),
        'A says bad peer AS',
      );
      await waitFor(
        () => /OPEN message error: Bad peer AS/.test(b.status().peers[0]!.info),
        'B received the NOTIFICATION',
      );
      assert.notEqual(a.status().peers[0]!.state, 'Established');
    } finally {
      await stop();
    }
  });

  it("says so when nothing listens on the peer's port", async () => {
    const port = await freePort('127.0.0.8');
    const speaker = new BgpSpeaker(
      parseSpeakerConfig(
        JSON.stringify({
          asNumber: 64512,
          routerId: '127.0.0.8',
          listen: { address: '127.0.0.8', port: 0 },
          peers: [{ address: '127.0.0.9', asNumber: 64512, port, connectRetryTime: 1 }],
        }),
        'test.yaml',
      ),
    );
    await speaker.start();
    try {
      await waitFor(() => /connection refused/.test(speaker.status().peers[0]!.info), 'connection refused in INFO');
      assert.equal(speaker.status().peers[0]!.state, 'Active');
    } finally {
      await speaker.stop();
    }
  });
});

describe('tabby-bgp configuration', () => {
  it('fills CONTRACT §8 defaults and rejects bad fields by name', () => {
    const c = parseSpeakerConfig(
      'asNumber: 64512\nrouterId: 192.0.2.11\npeers:\n  - {address: 192.0.2.1, asNumber: 65000}\n',
      'f.yaml',
    );
    assert.deepEqual(c.listen, { address: '0.0.0.0', port: 179 });
    assert.equal(c.peers[0]!.holdTimeSec, 240);
    assert.equal(c.peers[0]!.keepaliveTimeSec, 80);
    assert.equal(c.peers[0]!.gracefulRestart, true);
    assert.deepEqual(c.kernel, { export: false, table: 'main' });
    for (const [text, message] of [
      ['asNumber: 0\nrouterId: 192.0.2.1', /f\.yaml: asNumber: must be an integer from 1 to 4294967295, got 0/],
      [
        'asNumber: 1\nrouterId: 192.0.2.1\npeers: [{address: 192.0.2.2, asNumber: 2, holdTime: 2}]',
        /peers\[0\]\.holdTime: must be 0 or at least 3/,
      ],
      [
        'asNumber: 1\nrouterId: 192.0.2.1\npeers: [{address: 192.0.2.2, asNumber: 2, colour: red}]',
        /peers\[0\]\.colour: unknown field/,
      ],
      ['asNumber: 1\nrouterId: 192.0.2.1\noriginate: [10.0.0.1/8]', /originate\[0\]: must be an IPv4 CIDR/],
      ['asNumber: 1\nrouterId: 192.0.2.1\nkernel: {table: sideways}', /kernel\.table: must be main/],
      ['asNumber: [1', /f\.yaml: invalid YAML/],
    ] as [string, RegExp][]) {
      assert.throws(() => parseSpeakerConfig(text, 'f.yaml'), message);
    }
  });
});
