/**
 * What a gateway with no provider configured at all serves: the local models (`providers.local`, `type: local`, every
 * model folder under `models/`), and the default provider of both dialects is that one, so `local/gatehouse-tiny`,
 * `gatehouse-tiny` and any other unprefixed name go there. A fresh checkout (`npm ci`, which builds the shipped tiny
 * models, then `npm start`) thus answers with no key and no network.
 *
 * Pure, like the loader: whether the models are there is the runtime's to know. Node applies it when the models
 * folder holds a model (`load-node-config.ts`), and otherwise starts with no provider, saying so; Workers never runs
 * the local model.
 */
import type { GatewayConfig } from './config-schema.ts'

/** The provider id the offline default gives the local models: clients write `local/<model>`. */
export const offlineProviderId = 'local'

/** Whether the config leaves the gateway with no provider at all (the environment set none, the file none). */
export const hasNoProvider = (config: GatewayConfig): boolean =>
  Object.keys(config.providers).length === 0

/** The config with the local models as its one provider and both dialects' default. */
export const withOfflineDefault = (config: GatewayConfig): GatewayConfig => ({
  ...config,
  providers: { [offlineProviderId]: { type: 'local' } },
  defaultProvider: { openai: offlineProviderId, anthropic: offlineProviderId },
})
