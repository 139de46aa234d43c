package dev.edgekit.sample

import com.google.ai.edge.litertlm.Backend
import com.google.ai.edge.litertlm.Conversation
import com.google.ai.edge.litertlm.ConversationConfig
import com.google.ai.edge.litertlm.Engine
import com.google.ai.edge.litertlm.EngineConfig
import com.google.ai.edge.litertlm.SamplerConfig

/** LiteRT-LM: the bundle carries Gemma's chat template, so the user's words go in as they are. */
class LiteRtLmChat(
    modelPath: String,
    config: ModelConfig,
) : ChatBackend {
    private val engine = Engine(EngineConfig(modelPath = modelPath, backend = Backend.CPU(), maxNumTokens = config.maxTokens))
    private val conversation: Conversation

    init {
        engine.initialize() // seconds: the caller runs this off the main thread
        val sampler = SamplerConfig(topK = config.topK, topP = config.topP.toDouble(), temperature = config.temperature.toDouble())
        conversation = engine.createConversation(ConversationConfig(samplerConfig = sampler))
    }

    override suspend fun reply(
        userText: String,
        onPartial: (String) -> Unit,
    ) {
        conversation.sendMessageAsync(userText).collect { message -> onPartial(message.toString()) }
    }

    override fun close() {
        conversation.close()
        engine.close()
    }
}
