import type { Command } from 'commander';
import type { ModelConfig } from '../../core/config.js';
import { CheckpointError, ConfigError } from '../../core/errors.js';
import { loadCheckpoint } from '../../models/checkpoint.js';
import { writeSafetensors } from '../../models/safetensors.js';
import { decoderToTorch, encoderToTorch } from '../../models/torch-layout.js';
import { checkpointDirOf } from '../../tasks/segmentation/encoder-source.js';
import { VERSION } from '../../version.js';

interface ExportOptions {
  model: string;
  format: string;
  out: string;
  what: string;
}

/** What `dbmim export` can write. */
export const EXPORT_PARTS = ['encoder', 'affinity'] as const;

export function register(program: Command): void {
  program
    .command('export')
    .description(
      'export a model for PyTorch as safetensors (no code runs on load): the encoder in a timm-like module ' +
        'layout, or the whole affinity network; the model config is stored as JSON in the file metadata ' +
        "('dbmim.config'). See examples/python/dbmim_encoder.py",
    )
    .requiredOption(
      '--model <dir>',
      'checkpoint or run directory (pretraining, MIM model or finetuned network)',
    )
    .requiredOption('--out <file>', 'output .safetensors file (written atomically)')
    .option('--format <name>', 'output format (safetensors only)', 'safetensors')
    .option('--what <part>', `what to export: ${EXPORT_PARTS.join(' or ')}`, 'encoder')
    .action((opts: ExportOptions) => {
      if (opts.format !== 'safetensors')
        throw new ConfigError(`--format: only 'safetensors' is supported, got '${opts.format}'`);
      if (!(EXPORT_PARTS as readonly string[]).includes(opts.what))
        throw new ConfigError(`--what: expected ${EXPORT_PARTS.join(' or ')}, got '${opts.what}'`);
      const dir = checkpointDirOf(opts.model);
      const ckpt = loadCheckpoint(dir);
      const cfg = ckpt.manifest.config as { kind?: string; model?: ModelConfig } | null;
      if (!cfg?.model)
        throw new CheckpointError(`checkpoint ${dir}: no model config (not a dbmim model checkpoint)`);
      const enc = encoderToTorch(ckpt.tensors, cfg.model, `checkpoint ${dir}`);
      const tensors = [...enc.tensors];
      const config = { ...enc.config };
      if (opts.what === 'affinity') {
        if (cfg.kind !== 'affinity')
          throw new CheckpointError(
            `checkpoint ${dir}: --what affinity needs a finetuned network (config kind '${cfg.kind}')`,
          );
        tensors.push(...decoderToTorch(ckpt.tensors, `checkpoint ${dir}`));
        config.kind = 'affinity';
      }
      writeSafetensors(opts.out, tensors, {
        format: 'pt',
        'dbmim.config': JSON.stringify(config),
        'dbmim.version': VERSION,
        'dbmim.step': String(ckpt.manifest.step),
      });
      const params = tensors.reduce((s, t) => s + t.data.length, 0);
      console.log(
        JSON.stringify({
          out: opts.out,
          what: opts.what,
          tensors: tensors.length,
          parameters: params,
          layout: config.layout,
        }),
      );
    });
}
