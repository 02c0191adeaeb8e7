import { telegramHarness } from '../fakes/telegram/harness.ts';
import { connectorContract } from './contract.ts';

connectorContract(telegramHarness);
