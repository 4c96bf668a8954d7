import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { AppError } from './errors.js';

const FORMAT = 'v1';

/** Seals small secrets (plan parameters) with AES-256-GCM before they are stored. */
export interface SecretBox {
  /** True when a key is configured and sealed values are encrypted. */
  readonly encrypted: boolean;
  seal(plaintext: string): string;
  open(sealed: string): string;
}

/**
 * @param key 32 bytes; without one, values are stored as they are (the caller is responsible
 * for keeping them only as long as needed).
 */
export function createSecretBox(key: Buffer | null): SecretBox {
  if (key !== null && key.length !== 32) {
    throw new AppError('CONFIG', `secret key must be 32 bytes, got ${key.length}`);
  }
  if (key === null) {
    return {
      encrypted: false,
      seal: (plaintext) => `plain:${Buffer.from(plaintext, 'utf8').toString('base64')}`,
      open: (sealed) => {
        if (!sealed.startsWith('plain:')) {
          throw new AppError('CONFIG', 'stored secrets are encrypted; set DRPLAN_SECRET_KEY to read them');
        }
        return Buffer.from(sealed.slice('plain:'.length), 'base64').toString('utf8');
      },
    };
  }
  return {
    encrypted: true,
    seal(plaintext) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      const tag = cipher.getAuthTag();
      return [FORMAT, iv.toString('base64'), tag.toString('base64'), body.toString('base64')].join(':');
    },
    open(sealed) {
      if (sealed.startsWith('plain:')) return Buffer.from(sealed.slice(6), 'base64').toString('utf8');
      const [format, iv, tag, body] = sealed.split(':');
      if (format !== FORMAT || iv === undefined || tag === undefined || body === undefined) {
        throw new AppError('CONFIG', 'stored secrets are in an unknown format');
      }
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64'));
        decipher.setAuthTag(Buffer.from(tag, 'base64'));
        return Buffer.concat([decipher.update(Buffer.from(body, 'base64')), decipher.final()]).toString('utf8');
      } catch (error) {
        throw new AppError('CONFIG', 'stored secrets cannot be decrypted: DRPLAN_SECRET_KEY differs from the key they were sealed with', { cause: error });
      }
    },
  };
}
