/**
 * Turning initializer and regularizer identifiers into objects and back, the way tfjs-layers' Dense does.
 * tfjs-layers does not export its `getInitializer`/`serializeInitializer` helpers (its deep `dist/*.js`
 * files are ES modules that plain Node cannot require), so this file does the same through the public
 * `serialization.SerializationMap` that tfjs-layers registers its initializers and regularizers in.
 */
import {serialization} from '@tensorflow/tfjs-core';
import {initializers, regularizers} from '@tensorflow/tfjs-layers';
import type {Initializer, InitializerIdentifier} from '@tensorflow/tfjs-layers/dist/initializers';
import type {Regularizer, RegularizerIdentifier} from '@tensorflow/tfjs-layers/dist/regularizers';
import {fail, showValue} from '../ops/checks';

export type {Initializer, InitializerIdentifier, Regularizer, RegularizerIdentifier};

/** What a Keras-style `{className, config}` dictionary looks like. */
function isConfigDict(x: unknown): x is {className: string, config: serialization.ConfigDict} {
  return x != null && typeof x === 'object' && typeof (x as {className?: unknown}).className === 'string' &&
      (x as {config?: unknown}).config != null && typeof (x as {config?: unknown}).config === 'object';
}

type Kind = 'initializer' | 'regularizer';

/**
 * tfjs-layers' abstract `Initializer` and `Regularizer` classes, which its public API does not export: the
 * parents of the classes its public factories return (`Zeros extends Initializer`, `L1L2 extends Regularizer`).
 */
let baseClasses: Record<Kind, Function> | null = null;

function isInstance(x: unknown, kind: Kind): x is serialization.Serializable {
  if (baseClasses == null) {
    baseClasses = {
      initializer: Object.getPrototypeOf(initializers.zeros().constructor),
      regularizer: Object.getPrototypeOf(regularizers.l1l2().constructor),
    };
  }
  return x instanceof baseClasses[kind];
}

/** Builds the registered class `className` from its config, or throws naming the argument. */
function fromRegistry(owner: string, argName: string, kind: Kind, className: string,
                      config: serialization.ConfigDict, received: unknown): serialization.Serializable {
  const entry = serialization.SerializationMap.getMap().classNameMap[className];
  if (entry == null) {
    fail(owner, `${argName}=${showValue(received)} is not a known ${kind}: no class ${
                    JSON.stringify(className)} is registered with tf.serialization.registerClass`);
  }
  const [cls, fromConfig] = entry;
  const made = fromConfig(cls, {...config});
  if (!isInstance(made, kind)) {
    const article = kind === 'initializer' ? 'an' : 'a';
    fail(owner, `${argName}=${showValue(received)} names class ${className}, which is not ${article} ${kind}`);
  }
  return made;
}

function resolve(owner: string, argName: string, kind: Kind, identifier: unknown,
                 className: (id: string) => string): serialization.Serializable {
  if (typeof identifier === 'string') {
    return fromRegistry(owner, argName, kind, className(identifier), {}, identifier);
  }
  if (isInstance(identifier, kind)) {
    return identifier;
  }
  if (isConfigDict(identifier)) {
    return fromRegistry(owner, argName, kind, identifier.className, identifier.config, identifier.className);
  }
  return fail(owner, `${argName} must be a string identifier, an object made by tf.${kind}s.* or a ` +
                         `{className, config} dictionary, got ${showValue(identifier)}`);
}

/** `'glorotUniform'` names the class `GlorotUniform`: tfjs-layers' identifiers are class names in camelCase. */
function initializerClassName(id: string): string {
  return id.charAt(0).toUpperCase() + id.slice(1);
}

/** `'l1l2'` names the class `L1L2`. */
function regularizerClassName(id: string): string {
  return id.toLowerCase() === 'l1l2' ? 'L1L2' : id;
}

/** `getInitializer` of tfjs-layers: an identifier, an Initializer or a config dictionary to an Initializer. */
export function getInitializer(owner: string, argName: string, identifier: InitializerIdentifier | Initializer |
                               serialization.ConfigDict): Initializer {
  return resolve(owner, argName, 'initializer', identifier, initializerClassName) as Initializer;
}

/** `getRegularizer` of tfjs-layers; `null`/`undefined` mean no regularizer. */
export function getRegularizer(owner: string, argName: string, identifier: RegularizerIdentifier | Regularizer |
                               serialization.ConfigDict | null | undefined): Regularizer | null {
  return identifier == null ? null :
                              resolve(owner, argName, 'regularizer', identifier, regularizerClassName) as Regularizer;
}

/** `{className, config}` of an initializer or regularizer, as tfjs-layers writes it into a model's JSON. */
export function serializeObject(x: serialization.Serializable | null): serialization.ConfigDict | null {
  return x == null ? null : {className: x.getClassName(), config: x.getConfig()};
}
