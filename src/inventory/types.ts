// What the inventory loader produces. Values are already validated and merged by precedence:
// all < parent group < child group < host.
import type { HostConnectionSpec } from '../transport/types.js';

export interface InventoryHost {
  name: string;
  /** merged variables (every key, kha's and the operator's own) */
  vars: Record<string, unknown>;
  /** names of every group the host belongs to, outermost first (always includes 'all') */
  groups: string[];
  connection: HostConnectionSpec;
}

export interface Inventory {
  /** absolute path of the file */
  file: string;
  /** hosts in file order */
  hosts: InventoryHost[];
  /** group name -> host names (file order), including nested children */
  groups: Record<string, string[]>;
  /** every secret found (passwords, auth pass) for masking */
  secrets: string[];
  /** group -> its effective vars (all < parent groups < the group), for group-level settings */
  groupVars?: Record<string, Record<string, unknown>>;
  /** where values came from, so later checks (settings) can say file:line: path */
  source?: InventorySource;
}

/** Source map of a loaded inventory. Absent when an Inventory is built by hand (tests). */
export interface InventorySource {
  /** the file name as the user gave it; messages start with it */
  display: string;
  /** the text the inventory was parsed from (add/remove-master edit it, and refuse to overwrite a newer file) */
  text: string;
  /** 1-based line of the key at a path (['all','vars','vip']); the nearest enclosing key if absent */
  lineOf(path: readonly string[]): number | undefined;
  /** group -> key path of its first definition (['all','children','masters']) */
  groupPaths: Record<string, string[]>;
  /** group -> its ancestor groups, outermost first (not the group itself) */
  groupAncestors: Record<string, string[]>;
  /** host -> key path of its first appearance */
  hostPaths: Record<string, string[]>;
  /** host -> var -> key path of the value that won the precedence in host.vars */
  hostVarPaths: Record<string, Record<string, string[]>>;
  /** group -> var -> key path of the value that won in groupVars */
  groupVarPaths: Record<string, Record<string, string[]>>;
  /** group -> var -> key path of the group's own `vars:` entry (last definition) */
  ownVarPaths: Record<string, Record<string, string[]>>;
}

export interface ConnectionOverrides {
  user?: string;
  privateKey?: string;
  become?: boolean;
  /** --bastion: the jump host of every host whose inventory names none (ProxyJump syntax) */
  bastion?: string;
}
